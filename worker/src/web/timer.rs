//! One re-armable timer: the core says when it next needs time to pass.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, delay_ms: f64) -> f64;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: f64);
}

/// Calls its callback once at the time last armed; arming again replaces it.
#[derive(Debug)]
pub struct Timer {
    armed: Option<(u64, f64)>,
    on_fire: Closure<dyn FnMut()>,
}

impl Timer {
    /// A disarmed timer that will call `on_fire`.
    pub fn new(on_fire: impl FnMut() + 'static) -> Self {
        Timer {
            armed: None,
            on_fire: Closure::new(on_fire),
        }
    }

    /// Fires at `at` (wall-clock ms), or never with `None`. Re-arming for the
    /// same time keeps the pending timeout.
    pub fn arm(&mut self, at: Option<u64>, now: u64) {
        if self.armed.map(|(time, _)| time) == at {
            return;
        }
        if let Some((_, handle)) = self.armed.take() {
            clear_timeout(handle);
        }
        if let Some(at) = at {
            let delay = at.saturating_sub(now) as f64;
            let handle = set_timeout(self.on_fire.as_ref().unchecked_ref(), delay);
            self.armed = Some((at, handle));
        }
    }

    /// Forgets the pending timeout after it fired.
    pub fn fired(&mut self) {
        self.armed = None;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some((_, handle)) = self.armed.take() {
            clear_timeout(handle);
        }
    }
}
