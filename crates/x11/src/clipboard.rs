//! The X clipboard, both ways.
//!
//! Serving: [`Clipboard::set_clipboard`] makes our hidden window own CLIPBOARD and PRIMARY
//! and answers SelectionRequest for TARGETS, UTF8_STRING, TEXT and STRING. Text is
//! limited to [`MAX_CLIPBOARD_BYTES`] and served in one property (no INCR needed at that
//! size with BIG-REQUESTS); larger text is rejected rather than truncated.
//!
//! Reading: XFixes tells us when another client takes CLIPBOARD; we ask it for
//! UTF8_STRING (falling back to STRING), accept INCR transfers up to the same limit and
//! emit [`XEvent::ClipboardChanged`]. Our own ownership is not echoed.

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context, Result};
use x11rb::connection::Connection;
use x11rb::protocol::xfixes::{ConnectionExt as _, SelectionEventMask};
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, GetPropertyReply,
    PropMode, Property, SelectionNotifyEvent, SelectionRequestEvent, Window,
    SELECTION_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::wrapper::ConnectionExt as _;

use crate::atoms::Atoms;
use crate::cursor::announce_xfixes;
use crate::events::{EventHandler, XEvent};
use crate::Conn;

/// Largest clipboard text we serve or accept (bytes of UTF-8).
pub const MAX_CLIPBOARD_BYTES: usize = 256 * 1024;

pub struct Clipboard {
    conn: Arc<Conn>,
    window: Window,
    atoms: Atoms,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// What we serve while we own the selections.
    owned: Option<String>,
    /// A transfer from another owner in progress.
    incoming: Option<Incoming>,
}

struct Incoming {
    target: Atom,
    /// The owner sends INCR chunks; an empty chunk ends the transfer.
    incr: bool,
    data: Vec<u8>,
}

impl Clipboard {
    /// `window` is ours and never mapped; it must receive PropertyNotify (for INCR).
    pub fn new(conn: Arc<Conn>, window: Window, atoms: Atoms) -> Result<Self> {
        announce_xfixes(&conn)?;
        conn.change_window_attributes(
            window,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        conn.xfixes_select_selection_input(
            window,
            atoms.CLIPBOARD,
            SelectionEventMask::SET_SELECTION_OWNER,
        )?
        .check()
        .context("XFixesSelectSelectionInput")?;
        Ok(Self {
            conn,
            window,
            atoms,
            state: Mutex::new(State::default()),
        })
    }

    /// Own CLIPBOARD and PRIMARY with `text`.
    pub fn set_clipboard(&self, text: &str) -> Result<()> {
        if text.len() > MAX_CLIPBOARD_BYTES {
            bail!(
                "clipboard text of {} bytes exceeds the {MAX_CLIPBOARD_BYTES}-byte limit",
                text.len()
            );
        }
        self.lock().owned = Some(text.to_owned());
        for selection in [self.atoms.CLIPBOARD, AtomEnum::PRIMARY.into()] {
            self.conn
                .set_selection_owner(self.window, selection, x11rb::CURRENT_TIME)?;
        }
        self.conn.flush().context("taking the clipboard")?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn serve(&self, req: &SelectionRequestEvent) -> Result<()> {
        let a = &self.atoms;
        // Obsolete clients pass no property: the target names it (ICCCM 2.2).
        let property = if req.property == x11rb::NONE {
            req.target
        } else {
            req.property
        };
        let text = self.lock().owned.clone();
        let answered = match text {
            Some(_) if req.target == a.TARGETS => {
                let targets = [a.TARGETS, a.UTF8_STRING, a.TEXT, AtomEnum::STRING.into()];
                self.conn.change_property32(
                    PropMode::REPLACE,
                    req.requestor,
                    property,
                    AtomEnum::ATOM,
                    &targets,
                )?;
                true
            }
            Some(text) if req.target == a.UTF8_STRING || req.target == a.TEXT => {
                self.conn.change_property8(
                    PropMode::REPLACE,
                    req.requestor,
                    property,
                    a.UTF8_STRING,
                    text.as_bytes(),
                )?;
                true
            }
            Some(text) if req.target == u32::from(AtomEnum::STRING) => {
                let latin1: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect();
                self.conn.change_property8(
                    PropMode::REPLACE,
                    req.requestor,
                    property,
                    AtomEnum::STRING,
                    &latin1,
                )?;
                true
            }
            _ => false,
        };
        let notify = SelectionNotifyEvent {
            response_type: SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: req.time,
            requestor: req.requestor,
            selection: req.selection,
            target: req.target,
            property: if answered { property } else { x11rb::NONE },
        };
        self.conn
            .send_event(false, req.requestor, EventMask::NO_EVENT, notify)?;
        self.conn.flush()?;
        Ok(())
    }

    fn request(&self, target: Atom, time: u32) -> Result<()> {
        self.lock().incoming = Some(Incoming {
            target,
            incr: false,
            data: Vec::new(),
        });
        self.conn.convert_selection(
            self.window,
            self.atoms.CLIPBOARD,
            target,
            self.atoms._PORTHOLE_CLIPBOARD,
            time,
        )?;
        self.conn.flush()?;
        Ok(())
    }

    /// Read and delete our transfer property (deleting it asks an INCR owner for more).
    fn take_property(&self) -> Result<GetPropertyReply> {
        let words = (MAX_CLIPBOARD_BYTES / 4 + 1) as u32;
        let reply = self
            .conn
            .get_property(
                true,
                self.window,
                self.atoms._PORTHOLE_CLIPBOARD,
                AtomEnum::ANY,
                0,
                words,
            )?
            .reply()
            .context("reading the clipboard property")?;
        Ok(reply)
    }

    fn on_selection_notify(
        &self,
        ev: &SelectionNotifyEvent,
        emit: &mut dyn FnMut(XEvent),
    ) -> Result<()> {
        let target = match &self.lock().incoming {
            Some(incoming) => incoming.target,
            None => return Ok(()),
        };
        if ev.property == x11rb::NONE {
            // The owner refused this target: fall back once from UTF8_STRING to STRING.
            self.lock().incoming = None;
            if target == self.atoms.UTF8_STRING {
                self.request(AtomEnum::STRING.into(), ev.time)?;
            }
            return Ok(());
        }
        let reply = self.take_property()?;
        if reply.type_ == self.atoms.INCR {
            if let Some(incoming) = self.lock().incoming.as_mut() {
                incoming.incr = true;
            }
            return Ok(());
        }
        self.lock().incoming = None;
        if let Some(text) = decode(target, &reply.value, reply.bytes_after, &self.atoms) {
            emit(XEvent::ClipboardChanged(text));
        }
        Ok(())
    }

    fn on_incr_chunk(&self, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        if !self.lock().incoming.as_ref().is_some_and(|i| i.incr) {
            return Ok(());
        }
        let reply = self.take_property()?;
        let mut state = self.lock();
        let Some(incoming) = state.incoming.as_mut() else {
            return Ok(());
        };
        if !reply.value.is_empty() {
            incoming.data.extend_from_slice(&reply.value);
            if incoming.data.len() > MAX_CLIPBOARD_BYTES {
                tracing::info!("clipboard transfer above {MAX_CLIPBOARD_BYTES} bytes ignored");
                state.incoming = None;
            }
            return Ok(());
        }
        let done = state.incoming.take().expect("checked above");
        drop(state);
        if let Some(text) = decode(done.target, &done.data, 0, &self.atoms) {
            emit(XEvent::ClipboardChanged(text));
        }
        Ok(())
    }
}

/// Text from a converted selection, or None when it was too large.
fn decode(target: Atom, bytes: &[u8], bytes_after: u32, atoms: &Atoms) -> Option<String> {
    if bytes_after > 0 || bytes.len() > MAX_CLIPBOARD_BYTES {
        tracing::info!("clipboard text above {MAX_CLIPBOARD_BYTES} bytes ignored");
        return None;
    }
    Some(if target == atoms.UTF8_STRING {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    })
}

impl EventHandler for Clipboard {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        match event {
            // Our own ownership (owner == our window) is not echoed back.
            Event::XfixesSelectionNotify(n)
                if n.selection == self.atoms.CLIPBOARD
                    && n.owner != self.window
                    && n.owner != x11rb::NONE =>
            {
                self.request(self.atoms.UTF8_STRING, n.selection_timestamp)?;
            }
            Event::SelectionRequest(req) if req.owner == self.window => self.serve(req)?,
            Event::SelectionNotify(ev)
                if ev.requestor == self.window && ev.selection == self.atoms.CLIPBOARD =>
            {
                self.on_selection_notify(ev, emit)?;
            }
            Event::PropertyNotify(p)
                if p.window == self.window
                    && p.atom == self.atoms._PORTHOLE_CLIPBOARD
                    && p.state == Property::NEW_VALUE =>
            {
                self.on_incr_chunk(emit)?;
            }
            _ => {}
        }
        Ok(())
    }
}
