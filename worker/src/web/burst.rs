//! [`Burst`]: what the worker posts in a burst, gathered into few posts.
//!
//! A post costs per post far more than per byte: each `postMessage` to the
//! page and each `BroadcastChannel` post wakes another thread (a channel's
//! goes through the browser's process too). Posting every server message on
//! its own, one relay per message on the bus and one reply per message to
//! each page, the fan-out to 8 tabs spent most of its CPU on posting, and
//! reached 0.33× of a bare `BroadcastChannel`'s rate at 64 B messages; with
//! bursts, 1.55× (`npm run bench -- --only=fanout`, issue 10).
//!
//! So the first post after a quiet spell goes out at once, adding no
//! latency, and starts a burst: what comes while it lasts is gathered, and a
//! task of the burst's own posts it together. That task queues behind the
//! tasks already waiting (the socket's next messages, say), so a burst
//! gathers what arrived meanwhile; it goes on while its task finds something
//! to post. A MessageChannel message, not a timer: a background tab
//! throttles timers.
//!
//! Order is the caller's to keep: before it posts anything else on the same
//! line, it posts what was gathered ([`Burst::post_gathered`]).

use std::cell::{Cell, RefCell, RefMut};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageChannel, MessagePort};

/// Posts gathered during a burst.
pub trait Gathered {
    /// Posts everything gathered, in order; whether there was anything.
    fn post(&mut self) -> bool;
}

/// A burst's state and its task.
pub struct Burst<G> {
    gathered: Rc<RefCell<G>>,
    task: Task,
}

impl<G> std::fmt::Debug for Burst<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst")
            .field("on", &self.task.on.get())
            .finish_non_exhaustive()
    }
}

impl<G: Gathered + 'static> Burst<G> {
    /// No burst yet; `gathered` holds what bursts gather.
    pub fn new(gathered: G) -> Self {
        let gathered = Rc::new(RefCell::new(gathered));
        Burst {
            task: Task::new(gathered.clone()),
            gathered,
        }
    }

    /// Whether a burst is on: what comes now is to be gathered.
    pub fn on(&self) -> bool {
        self.task.on.get()
    }

    /// Starts a burst, as the caller posts something at once.
    pub fn start(&self) {
        if !self.task.on.replace(true) {
            self.task.queue();
        }
    }

    /// What the burst gathered so far, to add to.
    pub fn gathered(&self) -> RefMut<'_, G> {
        self.gathered.borrow_mut()
    }

    /// Posts what was gathered now, before something that must come after it.
    pub fn post_gathered(&self) {
        self.gathered.borrow_mut().post();
    }
}

/// The burst's task: it posts what was gathered, and queues itself again
/// while there was something. Not generic, so the WASM holds it once.
struct Task {
    /// Whether the task is queued: the burst is on.
    on: Rc<Cell<bool>>,
    port: MessagePort,
    receiver: MessagePort,
    _run: Closure<dyn FnMut()>,
}

impl Task {
    fn new(gathered: Rc<RefCell<dyn Gathered>>) -> Task {
        // `expect_throw`: `expect` would format the JS error, and bring
        // wasm-bindgen's value formatting into the WASM.
        let channel = MessageChannel::new().expect_throw("workers have MessageChannel");
        let on: Rc<Cell<bool>> = Rc::default();
        let port = channel.port2();
        let run = {
            let (on, port) = (on.clone(), port.clone());
            Closure::<dyn FnMut()>::new(move || {
                if gathered.borrow_mut().post() {
                    let _ = port.post_message(&JsValue::NULL);
                } else {
                    on.set(false);
                }
            })
        };
        let receiver = channel.port1();
        receiver.set_onmessage(Some(run.as_ref().unchecked_ref()));
        Task {
            on,
            port,
            receiver,
            _run: run,
        }
    }

    fn queue(&self) {
        let _ = self.port.post_message(&JsValue::NULL);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.receiver.set_onmessage(None);
        self.receiver.close();
    }
}
