//! The browser side of a live socket: connects to a path on this host over ws(s), hands every
//! frame to a callback, and reconnects by itself (500 ms doubling up to 5 s) after the server
//! went away, e.g. a restart. The server sends the whole truth first on every connection, so
//! nothing missed while disconnected stays missing.


/// Where the socket is, for the page's indicator.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not started (server rendering, before hydration).
    Idle,
    Connecting,
    Live,
    Reconnecting,
}

#[cfg(feature = "hydrate")]
pub use socket::subscribe;

#[cfg(feature = "hydrate")]
mod socket {
use super::LinkState;
use crate::model::LiveFrame;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

struct Handlers {
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

struct Link {
    url: String,
    on_frame: Box<dyn Fn(LiveFrame)>,
    state: RwSignal<LinkState>,
    failures: Cell<u32>,
    stopped: Cell<bool>,
    current: RefCell<Option<(WebSocket, Handlers)>>,
}

/// Opens the socket at `path` for as long as the calling component lives.
pub fn subscribe(path: &str, state: RwSignal<LinkState>, on_frame: impl Fn(LiveFrame) + 'static) {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let (Ok(protocol), Ok(host)) = (location.protocol(), location.host()) else { return };
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    let link = Rc::new(Link {
        url: format!("{scheme}://{host}{path}"),
        on_frame: Box::new(on_frame),
        state,
        failures: Cell::new(0),
        stopped: Cell::new(false),
        current: RefCell::new(None),
    });
    state.set(LinkState::Connecting);
    open(&link);
    let held = StoredValue::new_local(Some(link));
    on_cleanup(move || {
        if let Some(link) = held.try_update_value(Option::take).flatten() {
            link.stopped.set(true);
            if let Some((socket, _handlers)) = link.current.borrow_mut().take() {
                detach(&socket);
                let _ = socket.close();
            }
        }
    });
}

fn detach(socket: &WebSocket) {
    socket.set_onopen(None);
    socket.set_onmessage(None);
    socket.set_onclose(None);
}

fn open(link: &Rc<Link>) {
    if link.stopped.get() {
        return;
    }
    let Ok(socket) = WebSocket::new(&link.url) else {
        retry_later(link);
        return;
    };
    let on_open = {
        let link = link.clone();
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            link.failures.set(0);
            link.state.set(LinkState::Live);
        })
    };
    let on_message = {
        let link = link.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                match serde_json::from_str::<LiveFrame>(&text) {
                    Ok(frame) => (link.on_frame)(frame),
                    Err(e) => leptos::logging::warn!("live status: unreadable frame: {e}"),
                }
            }
        })
    };
    let on_close = {
        let link = link.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            if !link.stopped.get() {
                link.state.set(LinkState::Reconnecting);
                retry_later(&link);
            }
        })
    };
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let previous = link.current.borrow_mut().replace((socket, Handlers { _open: on_open, _message: on_message, _close: on_close }));
    if let Some((old, _)) = previous {
        detach(&old);
    }
}

fn retry_later(link: &Rc<Link>) {
    let failures = link.failures.get();
    link.failures.set(failures.saturating_add(1));
    let delay = std::time::Duration::from_millis((500u64 << failures.min(4)).min(5000));
    let link = link.clone();
    set_timeout(move || open(&link), delay);
}
}
