//! What the worker sees of the machine: `online` events (the network came
//! back), and jumps of the wall clock against the monotonic one (the
//! machine slept: the monotonic clock stands still meanwhile where the
//! system's does, as on Linux and macOS). The core decides what they mean
//! (see its scope/reconnect.rs).

use std::cell::Cell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::WorkerGlobalScope;

/// A jump of the wall clock smaller than this is noise (timer delays, NTP
/// slewing), not sleep.
const LEAST_JUMP_MS: f64 = 1000.0;

/// Listens for `online`; measures the wall clock's jumps.
#[derive(Debug)]
pub struct MachineWatch {
    scope: WorkerGlobalScope,
    on_online: Closure<dyn FnMut()>,
    /// The wall clock minus the monotonic one, when last looked at.
    drift: Cell<f64>,
}

impl MachineWatch {
    /// Calls `on_online` on every `online` event of the worker.
    pub fn new(on_online: impl FnMut() + 'static) -> Self {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        let on_online = Closure::new(on_online);
        // A worker without the event simply never hears it.
        let _ =
            scope.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        let watch = MachineWatch {
            scope,
            on_online,
            drift: Cell::new(0.0),
        };
        watch.drift.set(watch.current_drift());
        watch
    }

    fn current_drift(&self) -> f64 {
        let monotonic = self
            .scope
            .performance()
            .map_or(0.0, |p| p.time_origin() + p.now());
        js_sys::Date::now() - monotonic
    }

    /// How far the wall clock jumped ahead of the monotonic one since the
    /// last look, in ms, if it did by more than noise.
    pub fn wall_clock_jump(&self) -> Option<u64> {
        let drift = self.current_drift();
        let jump = drift - self.drift.replace(drift);
        (jump >= LEAST_JUMP_MS).then_some(jump as u64)
    }
}

impl Drop for MachineWatch {
    fn drop(&mut self) {
        let _ = self
            .scope
            .remove_event_listener_with_callback("online", self.on_online.as_ref().unchecked_ref());
    }
}
