//! A minimal window manager: no decorations, no reparenting. In [`ViewMode::App`] every
//! normal top-level window fills the screen (an app streamed on its own); dialogs and
//! transient windows keep their size, centred. In [`ViewMode::Desktop`] windows keep the
//! geometry they ask for. Override-redirect windows (menus, tooltips) are never touched.
//! The newest mapped window is raised and focused.

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ConfigureNotifyEvent, ConfigureRequestEvent,
    ConfigureWindowAux, ConnectionExt as _, EventMask, InputFocus, MapState, PropMode, StackMode,
    Window, CONFIGURE_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::wrapper::ConnectionExt as _;

use crate::atoms::Atoms;
use crate::events::{EventHandler, XEvent};
use crate::Conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    App,
    Desktop,
}

/// A top-level window we manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedWindow {
    pub id: u32,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub focused: bool,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    /// Transient-for or dialog type: keeps its size.
    Dialog,
}

/// A window geometry: x, y, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

/// Where a window goes, given what it asked for and the screen size.
fn place(mode: ViewMode, kind: Kind, asked: Geometry, screen: (u32, u32)) -> Geometry {
    match (mode, kind) {
        (ViewMode::Desktop, _) => asked,
        (ViewMode::App, Kind::Normal) => Geometry {
            x: 0,
            y: 0,
            w: screen.0,
            h: screen.1,
        },
        (ViewMode::App, Kind::Dialog) => {
            let (w, h) = (asked.w.min(screen.0).max(1), asked.h.min(screen.1).max(1));
            Geometry {
                x: ((screen.0 - w) / 2) as i32,
                y: ((screen.1 - h) / 2) as i32,
                w,
                h,
            }
        }
    }
}

struct Client {
    id: Window,
    kind: Kind,
    geometry: Geometry,
    title: String,
}

struct State {
    screen: (u32, u32),
    /// Bottom to top.
    clients: Vec<Client>,
    focused: Option<Window>,
}

pub struct WindowManager {
    conn: Arc<Conn>,
    root: Window,
    atoms: Atoms,
    mode: ViewMode,
    state: Mutex<State>,
}

impl WindowManager {
    /// Become the window manager (fails if another one runs) and adopt mapped windows.
    /// `check_window` is an unmapped window of ours for `_NET_SUPPORTING_WM_CHECK`. Screen
    /// resizes reach the WM as RandR ScreenChangeNotify, which the caller selects.
    pub fn new(
        conn: Arc<Conn>,
        root: Window,
        check_window: Window,
        atoms: Atoms,
        mode: ViewMode,
    ) -> Result<Self> {
        let mask = EventMask::SUBSTRUCTURE_REDIRECT
            | EventMask::SUBSTRUCTURE_NOTIFY
            | EventMask::PROPERTY_CHANGE;
        conn.change_window_attributes(root, &ChangeWindowAttributesAux::new().event_mask(mask))?
            .check()
            .context("another window manager is running")?;
        for window in [root, check_window] {
            conn.change_property32(
                PropMode::REPLACE,
                window,
                atoms._NET_SUPPORTING_WM_CHECK,
                AtomEnum::WINDOW,
                &[check_window],
            )?;
        }
        conn.change_property8(
            PropMode::REPLACE,
            check_window,
            atoms._NET_WM_NAME,
            atoms.UTF8_STRING,
            b"porthole",
        )?;
        let supported = [
            atoms._NET_SUPPORTING_WM_CHECK,
            atoms._NET_WM_NAME,
            atoms._NET_ACTIVE_WINDOW,
            atoms._NET_WM_WINDOW_TYPE,
            atoms._NET_WM_WINDOW_TYPE_DIALOG,
        ];
        conn.change_property32(
            PropMode::REPLACE,
            root,
            atoms._NET_SUPPORTED,
            AtomEnum::ATOM,
            &supported,
        )?;
        let geom = conn.get_geometry(root)?.reply()?;
        let wm = Self {
            conn,
            root,
            atoms,
            mode,
            state: Mutex::new(State {
                screen: (u32::from(geom.width), u32::from(geom.height)),
                clients: Vec::new(),
                focused: None,
            }),
        };
        let tree = wm.conn.query_tree(root)?.reply()?;
        for window in tree.children {
            let attrs = wm.conn.get_window_attributes(window)?.reply()?;
            if !attrs.override_redirect && attrs.map_state == MapState::VIEWABLE {
                wm.manage(window)?;
            }
        }
        wm.conn.flush()?;
        Ok(wm)
    }

    /// Managed windows, bottom to top.
    pub fn windows(&self) -> Vec<ManagedWindow> {
        let state = self.lock();
        state
            .clients
            .iter()
            .map(|c| ManagedWindow {
                id: c.id,
                x: c.geometry.x,
                y: c.geometry.y,
                width: c.geometry.w,
                height: c.geometry.h,
                focused: state.focused == Some(c.id),
                title: c.title.clone(),
            })
            .collect()
    }

    /// Raise and focus a managed window.
    pub fn focus(&self, id: u32) -> Result<()> {
        let mut state = self.lock();
        let Some(i) = state.clients.iter().position(|c| c.id == id) else {
            anyhow::bail!("window {id:#x} is not managed");
        };
        let client = state.clients.remove(i);
        state.clients.push(client);
        self.raise_and_focus(&mut state, id)?;
        self.conn.flush()?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn manage(&self, window: Window) -> Result<()> {
        let mut state = self.lock();
        if state.clients.iter().any(|c| c.id == window) {
            self.conn.map_window(window)?;
            return Ok(());
        }
        let geom = self.conn.get_geometry(window)?.reply()?;
        let asked = Geometry {
            x: i32::from(geom.x),
            y: i32::from(geom.y),
            w: u32::from(geom.width),
            h: u32::from(geom.height),
        };
        let kind = self.kind_of(window)?;
        let geometry = place(self.mode, kind, asked, state.screen);
        self.configure(window, geometry)?;
        self.conn.change_window_attributes(
            window,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        // ICCCM WM_STATE NormalState: some toolkits wait for it before drawing.
        self.conn.change_property32(
            PropMode::REPLACE,
            window,
            self.atoms.WM_STATE,
            self.atoms.WM_STATE,
            &[1, 0],
        )?;
        self.conn.map_window(window)?;
        let title = self.title_of(window)?;
        state.clients.push(Client {
            id: window,
            kind,
            geometry,
            title,
        });
        self.raise_and_focus(&mut state, window)
    }

    fn kind_of(&self, window: Window) -> Result<Kind> {
        let transient = self
            .conn
            .get_property(
                false,
                window,
                AtomEnum::WM_TRANSIENT_FOR,
                AtomEnum::WINDOW,
                0,
                1,
            )?
            .reply()?;
        if transient
            .value32()
            .and_then(|mut v| v.next())
            .is_some_and(|w| w != 0)
        {
            return Ok(Kind::Dialog);
        }
        let types = self
            .conn
            .get_property(
                false,
                window,
                self.atoms._NET_WM_WINDOW_TYPE,
                AtomEnum::ATOM,
                0,
                32,
            )?
            .reply()?;
        let dialog = types
            .value32()
            .is_some_and(|mut v| v.any(|t| t == self.atoms._NET_WM_WINDOW_TYPE_DIALOG));
        Ok(if dialog { Kind::Dialog } else { Kind::Normal })
    }

    /// `_NET_WM_NAME` (UTF-8), else `WM_NAME`.
    fn title_of(&self, window: Window) -> Result<String> {
        let net = self
            .conn
            .get_property(
                false,
                window,
                self.atoms._NET_WM_NAME,
                self.atoms.UTF8_STRING,
                0,
                1024,
            )?
            .reply()?;
        if !net.value.is_empty() {
            return Ok(String::from_utf8_lossy(&net.value).into_owned());
        }
        let name = self
            .conn
            .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024)?
            .reply()?;
        Ok(if name.type_ == self.atoms.UTF8_STRING {
            String::from_utf8_lossy(&name.value).into_owned()
        } else {
            name.value.iter().map(|&b| char::from(b)).collect()
        })
    }

    fn configure(&self, window: Window, g: Geometry) -> Result<()> {
        let aux = ConfigureWindowAux::new()
            .x(g.x)
            .y(g.y)
            .width(g.w)
            .height(g.h)
            .border_width(0);
        self.conn.configure_window(window, &aux)?;
        Ok(())
    }

    /// Focus changes are published through `_NET_ACTIVE_WINDOW`; its PropertyNotify on the
    /// root becomes `WindowsChanged`, whichever thread changed the focus.
    fn raise_and_focus(&self, state: &mut State, window: Window) -> Result<()> {
        self.conn.configure_window(
            window,
            &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
        )?;
        self.conn
            .set_input_focus(InputFocus::PARENT, window, x11rb::CURRENT_TIME)?;
        self.set_active(state, Some(window))
    }

    fn set_active(&self, state: &mut State, window: Option<Window>) -> Result<()> {
        state.focused = window;
        let value = window.unwrap_or(x11rb::NONE);
        self.conn.change_property32(
            PropMode::REPLACE,
            self.root,
            self.atoms._NET_ACTIVE_WINDOW,
            AtomEnum::WINDOW,
            &[value],
        )?;
        Ok(())
    }

    fn unmanage(&self, window: Window) -> Result<bool> {
        let mut state = self.lock();
        let Some(i) = state.clients.iter().position(|c| c.id == window) else {
            return Ok(false);
        };
        state.clients.remove(i);
        if state.focused == Some(window) {
            match state.clients.last().map(|c| c.id) {
                Some(top) => self.raise_and_focus(&mut state, top)?,
                None => {
                    self.conn.set_input_focus(
                        InputFocus::POINTER_ROOT,
                        x11rb::NONE,
                        x11rb::CURRENT_TIME,
                    )?;
                    self.set_active(&mut state, None)?;
                }
            }
        }
        Ok(true)
    }

    fn on_configure_request(&self, req: &ConfigureRequestEvent) -> Result<()> {
        let state = self.lock();
        let Some(client) = state.clients.iter().find(|c| c.id == req.window) else {
            // Not managed (yet): grant the request as asked; placement happens at map time.
            self.conn
                .configure_window(req.window, &ConfigureWindowAux::from_configure_request(req))?;
            return Ok(());
        };
        let asked = Geometry {
            x: i32::from(req.x),
            y: i32::from(req.y),
            w: u32::from(req.width),
            h: u32::from(req.height),
        };
        let geometry = place(self.mode, client.kind, asked, state.screen);
        if geometry == client.geometry {
            // Nothing changes, so the server sends no ConfigureNotify: ICCCM 4.1.5 wants a
            // synthetic one telling the client its (unchanged) geometry.
            let g = geometry;
            let notify = ConfigureNotifyEvent {
                response_type: CONFIGURE_NOTIFY_EVENT,
                sequence: 0,
                event: req.window,
                window: req.window,
                above_sibling: x11rb::NONE,
                x: g.x as i16,
                y: g.y as i16,
                width: g.w as u16,
                height: g.h as u16,
                border_width: 0,
                override_redirect: false,
            };
            self.conn
                .send_event(false, req.window, EventMask::STRUCTURE_NOTIFY, notify)?;
        } else {
            self.configure(req.window, geometry)?;
        }
        Ok(())
    }

    /// Track actual geometry; true when a managed window moved or resized.
    fn on_configure_notify(&self, ev: &ConfigureNotifyEvent) -> bool {
        let mut state = self.lock();
        let Some(client) = state.clients.iter_mut().find(|c| c.id == ev.window) else {
            return false;
        };
        let g = Geometry {
            x: i32::from(ev.x),
            y: i32::from(ev.y),
            w: u32::from(ev.width),
            h: u32::from(ev.height),
        };
        let changed = client.geometry != g;
        client.geometry = g;
        changed
    }

    fn on_screen_resized(&self, width: u32, height: u32) -> Result<()> {
        let mut state = self.lock();
        state.screen = (width, height);
        for client in &state.clients {
            let geometry = place(self.mode, client.kind, client.geometry, (width, height));
            if geometry != client.geometry {
                self.configure(client.id, geometry)?;
            }
        }
        Ok(())
    }

    fn on_title_changed(&self, window: Window, atom: Atom) -> Result<bool> {
        if atom != self.atoms._NET_WM_NAME && atom != u32::from(AtomEnum::WM_NAME) {
            return Ok(false);
        }
        if !self.lock().clients.iter().any(|c| c.id == window) {
            return Ok(false);
        }
        let title = self.title_of(window)?;
        let mut state = self.lock();
        let Some(client) = state.clients.iter_mut().find(|c| c.id == window) else {
            return Ok(false);
        };
        let changed = client.title != title;
        client.title = title;
        Ok(changed)
    }
}

impl EventHandler for WindowManager {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        let changed = match event {
            Event::MapRequest(e) => {
                self.manage(e.window)?;
                true
            }
            Event::ConfigureRequest(e) => {
                self.on_configure_request(e)?;
                false
            }
            Event::ConfigureNotify(e) if e.event == self.root => self.on_configure_notify(e),
            Event::UnmapNotify(e) if e.event == self.root => self.unmanage(e.window)?,
            Event::DestroyNotify(e) if e.event == self.root => self.unmanage(e.window)?,
            Event::PropertyNotify(e) if e.window == self.root => {
                e.atom == self.atoms._NET_ACTIVE_WINDOW
            }
            Event::PropertyNotify(e) => self.on_title_changed(e.window, e.atom)?,
            Event::ClientMessage(m) if m.type_ == self.atoms._NET_ACTIVE_WINDOW => {
                // A pager or the app itself asks for activation.
                if self.lock().clients.iter().any(|c| c.id == m.window) {
                    self.focus(m.window)?;
                }
                false
            }
            Event::RandrScreenChangeNotify(e) if e.root == self.root => {
                self.on_screen_resized(u32::from(e.width), u32::from(e.height))?;
                false
            }
            _ => false,
        };
        if changed {
            emit(XEvent::WindowsChanged);
        }
        self.conn.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKED: Geometry = Geometry {
        x: 10,
        y: 20,
        w: 300,
        h: 200,
    };

    #[test]
    fn app_mode_fills_the_screen() {
        assert_eq!(
            place(ViewMode::App, Kind::Normal, ASKED, (800, 600)),
            Geometry {
                x: 0,
                y: 0,
                w: 800,
                h: 600
            }
        );
    }

    #[test]
    fn app_mode_centres_dialogs_at_their_size() {
        assert_eq!(
            place(ViewMode::App, Kind::Dialog, ASKED, (800, 600)),
            Geometry {
                x: 250,
                y: 200,
                w: 300,
                h: 200
            }
        );
    }

    #[test]
    fn app_mode_shrinks_dialogs_larger_than_the_screen() {
        let big = Geometry {
            x: 0,
            y: 0,
            w: 2000,
            h: 100,
        };
        assert_eq!(
            place(ViewMode::App, Kind::Dialog, big, (800, 600)),
            Geometry {
                x: 0,
                y: 250,
                w: 800,
                h: 100
            }
        );
    }

    #[test]
    fn desktop_mode_keeps_the_request() {
        assert_eq!(
            place(ViewMode::Desktop, Kind::Normal, ASKED, (800, 600)),
            ASKED
        );
    }
}
