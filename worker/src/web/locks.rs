//! The [`Locks`] manager: the Web Locks API (`navigator.locks`), reduced to
//! one exclusive request per scope, granted, then held until released or
//! stolen.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bws_core::{LockEvent, Locks, Map, PROTOCOL_VERSION};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`, seen through a `request` that takes plain JS values.
    #[derive(Debug, Clone)]
    pub type LockManager;
    #[wasm_bindgen(method, js_name = request)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> js_sys::Promise;
}

impl LockManager {
    /// This context's lock manager, if it has one: Web Locks exist only in
    /// secure contexts (https, localhost) of browsers that implement them.
    pub fn find() -> Option<LockManager> {
        let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
        let locks = js_sys::Reflect::get(&navigator, &"locks".into()).ok()?;
        let has_request =
            js_sys::Reflect::get(&locks, &"request".into()).is_ok_and(|f| f.is_function());
        has_request.then(|| locks.unchecked_into())
    }
}

/// The name of a scope's leader lock. The protocol version is part of it, so
/// tabs of incompatible versions never join the same election.
pub fn leader_lock_name(scope: &str) -> String {
    format!("bws:leader:v{PROTOCOL_VERSION}:{scope}")
}

/// The tab's lock requests by scope; their events go to one callback. Where
/// the context has no Web Locks, requests are never granted (the election
/// then runs the lease, which asks for none).
pub struct WebLocks {
    manager: Option<LockManager>,
    requests: Map<String, LockRequest>,
    on_event: Rc<dyn Fn(String, u64, LockEvent)>,
}

impl std::fmt::Debug for WebLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLocks").finish_non_exhaustive()
    }
}

impl WebLocks {
    /// This context's locks; every request's events reach `on_event` with
    /// their scope and ticket.
    pub fn new(on_event: impl Fn(String, u64, LockEvent) + 'static) -> Self {
        WebLocks {
            manager: LockManager::find(),
            requests: Map::new(),
            on_event: Rc::new(on_event),
        }
    }

    /// Whether this context has Web Locks.
    pub fn available(&self) -> bool {
        self.manager.is_some()
    }
}

impl Locks for WebLocks {
    fn request(&mut self, scope: &str, ticket: u64, steal: bool) {
        // Dropping the previous request withdraws or releases it.
        self.requests.remove(scope);
        if let Some(manager) = &self.manager {
            let on_event = self.on_event.clone();
            let name = scope.to_owned();
            let request =
                LockRequest::new(manager, &leader_lock_name(scope), steal, move |event| {
                    on_event(name.clone(), ticket, event)
                });
            self.requests.insert(scope.to_owned(), request);
        }
    }

    fn release(&mut self, scope: &str) {
        self.requests.remove(scope);
    }
}

/// One request for an exclusive lock. Dropping it releases the lock if it is
/// held and withdraws the request if it is still waiting.
#[derive(Debug)]
pub struct LockRequest {
    abort: Option<AbortController>,
    release: Rc<RefCell<Option<js_sys::Function>>>,
    /// Set once we let go ourselves, so the request settling is not a loss.
    let_go: Rc<Cell<bool>>,
    _on_grant: Closure<dyn FnMut(JsValue) -> js_sys::Promise>,
}

impl LockRequest {
    /// Requests `name` exclusively; `steal` takes it from its holder at once.
    pub fn new(
        manager: &LockManager,
        name: &str,
        steal: bool,
        on_event: impl Fn(LockEvent) + 'static,
    ) -> Self {
        let on_event = Rc::new(on_event);
        let release: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
        let let_go = Rc::new(Cell::new(false));
        let on_grant = {
            let (release, on_event) = (release.clone(), on_event.clone());
            Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |_lock| {
                // The lock is held until the promise returned here settles.
                let held = js_sys::Promise::new(&mut |resolve, _reject| {
                    *release.borrow_mut() = Some(resolve);
                });
                on_event(LockEvent::Acquired);
                held
            })
        };
        let options = js_sys::Object::new();
        let set = |key: &str, value: &JsValue| {
            let _ = js_sys::Reflect::set(&options, &key.into(), value);
        };
        set("mode", &"exclusive".into());
        // A steal cannot be withdrawn (the API refuses `signal` with `steal`),
        // and needs not be: it is granted at once.
        let abort = if steal {
            set("steal", &true.into());
            None
        } else {
            let controller = AbortController::new().ok();
            if let Some(controller) = &controller {
                set("signal", &controller.signal());
            }
            controller
        };
        let settled = manager.request(name, &options, on_grant.as_ref().unchecked_ref());
        {
            let (release, let_go) = (release.clone(), let_go.clone());
            wasm_bindgen_futures::spawn_local(async move {
                // It rejects when aborted (our doing) or when the held lock is
                // stolen (AbortError): only the latter is news.
                let outcome = JsFuture::from(settled).await;
                if outcome.is_err() && release.borrow().is_some() && !let_go.get() {
                    on_event(LockEvent::Lost);
                }
            });
        }
        LockRequest {
            abort,
            release,
            let_go,
            _on_grant: on_grant,
        }
    }
}

impl Drop for LockRequest {
    fn drop(&mut self) {
        self.let_go.set(true);
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        } else if let Some(controller) = &self.abort {
            controller.abort();
        }
    }
}
