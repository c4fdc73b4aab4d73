//! The [`Clock`]: monotonic time and one re-armable timer.
//!
//! Time is `performance.timeOrigin + performance.now()`, not `Date.now()`.
//! `performance.now()` is monotonic: a step of the wall clock (NTP, a user
//! changing the time, a laptop waking) must not make a healthy leader think
//! it was silent past the timeout and step down, nor push its next heartbeat
//! into the future. `timeOrigin` (when this worker started, on the wall
//! clock) puts every tab's time on one shared base, as epochs compared
//! across tabs need.

use std::cell::Cell;
use std::rc::Rc;

use bws_core::Clock;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Performance, WorkerGlobalScope};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, delay_ms: f64) -> f64;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: f64);
}

/// The worker's clock; its alarm calls one callback.
#[derive(Debug)]
pub struct WebClock {
    performance: Performance,
    origin: f64,
    /// The time and handle of the pending timeout; the timeout clears it
    /// when it fires.
    armed: Rc<Cell<Option<(u64, f64)>>>,
    on_fire: Closure<dyn FnMut()>,
}

impl WebClock {
    /// A clock whose alarm will call `on_fire`.
    pub fn new(mut on_fire: impl FnMut() + 'static) -> Self {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        let performance = scope.performance().expect("workers have performance");
        let armed: Rc<Cell<Option<(u64, f64)>>> = Rc::default();
        let fired = armed.clone();
        WebClock {
            origin: performance.time_origin(),
            performance,
            armed,
            on_fire: Closure::new(move || {
                fired.set(None);
                on_fire()
            }),
        }
    }
}

impl Clock for WebClock {
    fn now(&self) -> u64 {
        (self.origin + self.performance.now()) as u64
    }

    /// Re-arming for the same time keeps the pending timeout.
    fn wake_at(&mut self, at: Option<u64>) {
        if self.armed.get().map(|(time, _)| time) == at {
            return;
        }
        if let Some((_, handle)) = self.armed.take() {
            clear_timeout(handle);
        }
        if let Some(at) = at {
            let delay = at.saturating_sub(self.now()) as f64;
            let handle = set_timeout(self.on_fire.as_ref().unchecked_ref(), delay);
            self.armed.set(Some((at, handle)));
        }
    }
}

impl Drop for WebClock {
    fn drop(&mut self) {
        if let Some((_, handle)) = self.armed.take() {
            clear_timeout(handle);
        }
    }
}
