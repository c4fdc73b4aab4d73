//! What scenario tests share: worlds of named tabs with fixed latencies,
//! the events instances expect, and settling.

use bws_core::{Backend, CloseInfo, Event};

use super::{Config, InstanceId, Pl, World};

pub const BOTH: [Backend; 2] = [Backend::Locks, Backend::Lease];

pub fn world(backend: Backend, tabs: usize) -> World {
    let mut w = World::new(Config::new(backend));
    for index in 0..tabs {
        // Ids in creation order, so that tie-breaks are predictable.
        w.add_tab_named(&format!("tab-{index}"));
    }
    w
}

pub fn settle(w: &mut World) {
    let ms = w.cfg.settle_ms(w.tabs.len());
    w.run_for(ms);
}

pub fn open() -> Event<Pl> {
    Event::Open {
        protocol: "sim".to_owned(),
        extensions: String::new(),
    }
}

pub fn closed(code: u16, reason: &str, was_clean: bool, reconnecting: bool) -> Event<Pl> {
    Event::Closed {
        info: CloseInfo {
            code,
            reason: reason.to_owned(),
            was_clean,
        },
        reconnecting,
    }
}

pub fn reconnect() -> Event<Pl> {
    closed(1006, "", false, true)
}

/// `count` tabs with one instance each in scope "s", settled.
pub fn tabs_with_instances(backend: Backend, count: usize) -> (World, Vec<InstanceId>) {
    with_instances(world(backend, count))
}

/// One instance in scope "s" for each tab of `w`, settled.
pub fn with_instances(mut w: World) -> (World, Vec<InstanceId>) {
    let count = w.tabs.len();
    let mut instances = Vec::new();
    for tab in 0..count {
        instances.push(w.join(tab, "s"));
        w.run_for(50);
    }
    settle(&mut w);
    w.check_settled(&["s"]);
    (w, instances)
}
