//! The facade the agent uses: one connection, every X feature set up, one event thread.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use anyhow::{Context, Result};
use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::randr::{ConnectionExt as _, NotifyMask};
use x11rb::protocol::xproto::{ConnectionExt as _, CreateWindowAux, Window, WindowClass};
use x11rb::protocol::Event;

use crate::atoms::Atoms;
use crate::capture::{DamageTracker, ScreenMirror};
use crate::clipboard::Clipboard;
use crate::cursor::{cursor_image, CursorImage, CursorWatcher};
use crate::events::{spawn_event_thread, EventHandler, EventThread, XEvent};
use crate::input::Input;
use crate::resize::{announce_randr_version, resize};
use crate::wm::{ManagedWindow, ViewMode, WindowManager};
use crate::Conn;

/// A connection to a display with damage, cursor, clipboard, input and the window manager
/// set up, and the event thread running. Send + Sync: share it in an `Arc`.
pub struct Display {
    // Declared first so it drops first: the event thread stops before the rest goes.
    _events: EventThread,
    conn: Arc<Conn>,
    root: Window,
    damage: DamageTracker,
    input: Arc<Input>,
    clipboard: Arc<Clipboard>,
    wm: Arc<WindowManager>,
}

impl Display {
    /// Connect to `name` (":N") and become its window manager.
    pub fn connect(name: &str, mode: ViewMode) -> Result<(Display, Receiver<XEvent>)> {
        let (conn, screen) = x11rb::connect(Some(name))
            .with_context(|| format!("connecting to X display {name}"))?;
        let conn = Arc::new(conn);
        let root = conn.setup().roots[screen].root;
        // Clipboard text up to 256 KiB goes in one ChangeProperty: needs BIG-REQUESTS.
        conn.prefetch_maximum_request_bytes();
        let atoms = Atoms::new(&*conn)?.reply().context("interning atoms")?;
        let helper = helper_window(&conn, root)?;

        announce_randr_version(&*conn)?;
        conn.randr_select_input(root, NotifyMask::SCREEN_CHANGE)?
            .check()
            .context("RandR SelectInput")?;
        let damage = DamageTracker::new(conn.clone(), root)?;
        let cursor = CursorWatcher::new(&conn, root)?;
        let clipboard = Arc::new(Clipboard::new(conn.clone(), helper, atoms)?);
        let input = Arc::new(Input::new(conn.clone(), root)?);
        let wm = Arc::new(WindowManager::new(conn.clone(), root, helper, atoms, mode)?);
        let handlers: Vec<Arc<dyn EventHandler>> = vec![
            Arc::new(damage.clone()),
            Arc::new(ScreenWatcher { root }),
            Arc::new(cursor),
            clipboard.clone(),
            input.clone(),
            wm.clone(),
        ];
        let (events, thread) =
            spawn_event_thread(conn.clone(), helper, atoms._PORTHOLE_QUIT, handlers)?;
        Ok((
            Display {
                _events: thread,
                conn,
                root,
                damage,
                input,
                clipboard,
                wm,
            },
            events,
        ))
    }

    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    pub fn root(&self) -> Window {
        self.root
    }

    /// Current screen size.
    pub fn size(&self) -> Result<(u32, u32)> {
        let geom = self
            .conn
            .get_geometry(self.root)?
            .reply()
            .context("GetGeometry of the root")?;
        Ok((u32::from(geom.width), u32::from(geom.height)))
    }

    /// A mirror of the whole screen that acknowledges this display's damage on each grab.
    pub fn mirror(&self) -> Result<ScreenMirror> {
        let (width, height) = self.size()?;
        Ok(
            ScreenMirror::new(self.conn.clone(), self.root, width, height)?
                .with_damage(self.damage.clone()),
        )
    }

    /// Pointer and keyboard injection (shareable with input tasks).
    pub fn input(&self) -> &Arc<Input> {
        &self.input
    }

    /// Resize the screen; `XEvent::ScreenResized` follows.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        resize(&*self.conn, self.root, width, height)
    }

    pub fn cursor_image(&self) -> Result<CursorImage> {
        cursor_image(&self.conn)
    }

    pub fn set_clipboard(&self, text: &str) -> Result<()> {
        self.clipboard.set_clipboard(text)
    }

    /// Managed windows, bottom to top.
    pub fn windows(&self) -> Vec<ManagedWindow> {
        self.wm.windows()
    }

    pub fn focus(&self, id: u32) -> Result<()> {
        self.wm.focus(id)
    }
}

/// An unmapped window of ours: clipboard owner, `_NET_SUPPORTING_WM_CHECK` target and the
/// event thread's wake-up address. Override-redirect so no window manager touches it.
fn helper_window(conn: &Conn, root: Window) -> Result<Window> {
    let window = conn.generate_id()?;
    let aux = CreateWindowAux::new().override_redirect(1);
    conn.create_window(
        0,
        window,
        root,
        -10,
        -10,
        1,
        1,
        0,
        WindowClass::INPUT_ONLY,
        0,
        &aux,
    )?
    .check()
    .context("creating the helper window")?;
    Ok(window)
}

/// Turns RandR ScreenChangeNotify into `ScreenResized`.
struct ScreenWatcher {
    root: Window,
}

impl EventHandler for ScreenWatcher {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        if let Event::RandrScreenChangeNotify(e) = event {
            if e.root == self.root {
                emit(XEvent::ScreenResized {
                    width: u32::from(e.width),
                    height: u32::from(e.height),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The agent shares a Display across tokio tasks and moves the mirror to its capture thread.
    #[test]
    fn thread_safety() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<super::Display>();
        shared::<crate::Input>();
        movable::<crate::ScreenMirror>();
    }
}
