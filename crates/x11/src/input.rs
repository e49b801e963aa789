//! XTEST input injection that makes apps see exactly the requested keysym, whatever the
//! keymap: Shift / Level3 are pressed or released around a key when its level needs it,
//! and keysyms missing from the map are put on a spare keycode (xdotool's approach).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context, Result};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, Mapping, Window, BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, KEY_PRESS_EVENT,
    KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::protocol::Event;

use crate::events::{EventHandler, XEvent};
use crate::keymap::{same_symbol, Keymap, Levels, XK_ISO_LEVEL3_SHIFT, XK_SHIFT_L, XK_SHIFT_R};
use crate::Conn;

/// How many spare keycodes we remap at most. Generous on purpose: reusing a keycode soon
/// after typing on it races with apps that re-read the mapping when they see the change.
const MAX_REMAPPED: usize = 64;

/// Injects pointer and keyboard input; remembers what is held so it can all be released.
pub struct Input {
    conn: Arc<Conn>,
    root: Window,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// None when stale (MappingNotify): re-read before the next key.
    keymap: Option<Keymap>,
    /// Keycodes we pressed and have not released, in press order.
    held_keys: Vec<u8>,
    held_buttons: BTreeSet<u8>,
    /// Which keycode a held keysym went down on, so its release uses the same one.
    pressed: HashMap<u32, u8>,
    /// Remapped spare keycodes, least recently used first.
    remapped: Vec<(u32, u8)>,
}

impl Input {
    pub fn new(conn: Arc<Conn>, root: Window) -> Result<Self> {
        conn.xtest_get_version(2, 2)?
            .reply()
            .context("XTEST extension missing")?;
        Ok(Self {
            conn,
            root,
            state: Mutex::new(State::default()),
        })
    }

    pub fn pointer_move(&self, x: i32, y: i32) -> Result<()> {
        let clamp = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        self.fake(MOTION_NOTIFY_EVENT, 0, clamp(x), clamp(y))?;
        self.flush()
    }

    /// Button 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 wheel left/right.
    pub fn button(&self, button: u8, pressed: bool) -> Result<()> {
        let mut state = self.lock();
        if pressed {
            state.held_buttons.insert(button);
            self.fake(BUTTON_PRESS_EVENT, button, 0, 0)?;
        } else {
            state.held_buttons.remove(&button);
            self.fake(BUTTON_RELEASE_EVENT, button, 0, 0)?;
        }
        self.flush()
    }

    /// Press or release the key that produces `keysym`.
    pub fn key(&self, keysym: u32, pressed: bool) -> Result<()> {
        let mut state = self.lock();
        if pressed {
            self.press(&mut state, keysym)?;
        } else {
            self.release(&mut state, keysym)?;
        }
        self.flush()
    }

    /// Type text: press and release the key of each character.
    pub fn type_text(&self, text: &str) -> Result<()> {
        let mut state = self.lock();
        for c in text.chars() {
            let keysym = porthole_engine::keymap::keysym_for_char(c);
            self.press(&mut state, keysym)?;
            self.release(&mut state, keysym)?;
        }
        self.flush()
    }

    /// Release every key and button we hold (the browser tab lost focus).
    pub fn release_all(&self) -> Result<()> {
        let mut state = self.lock();
        for key in std::mem::take(&mut state.held_keys).into_iter().rev() {
            self.fake(KEY_RELEASE_EVENT, key, 0, 0)?;
        }
        for button in std::mem::take(&mut state.held_buttons) {
            self.fake(BUTTON_RELEASE_EVENT, button, 0, 0)?;
        }
        state.pressed.clear();
        self.flush()
    }

    fn press(&self, state: &mut State, keysym: u32) -> Result<()> {
        self.load_keymap(state)?;
        let keymap = state.keymap.as_ref().expect("loaded above");
        let shift_key = keymap
            .keycode_of(XK_SHIFT_L)
            .or_else(|| keymap.keycode_of(XK_SHIFT_R));
        let level3_key = keymap.keycode_of(XK_ISO_LEVEL3_SHIFT);
        let held_shift: Vec<u8> = held_with(keymap, &state.held_keys, &[XK_SHIFT_L, XK_SHIFT_R]);
        let held_level3: Vec<u8> = held_with(keymap, &state.held_keys, &[XK_ISO_LEVEL3_SHIFT]);
        let held = Levels {
            shift: !held_shift.is_empty(),
            level3: !held_level3.is_empty(),
        };

        let found = keymap.find(keysym, held, level3_key.is_some());
        let (keycode, wanted) = match found {
            Some(found) if shift_key.is_some() || found.1.shift == held.shift => found,
            _ => (self.remap(state, keysym)?, held),
        };
        // Temporary modifier changes: (keycode, press?) to apply before, undone after.
        let mut changes = Vec::new();
        for (want, have, key, held_keys) in [
            (wanted.shift, held.shift, shift_key, held_shift),
            (wanted.level3, held.level3, level3_key, held_level3),
        ] {
            if want && !have {
                changes.extend(key.map(|k| (k, true)));
            } else if !want && have {
                changes.extend(held_keys.into_iter().map(|k| (k, false)));
            }
        }
        for &(k, down) in &changes {
            self.fake(
                if down {
                    KEY_PRESS_EVENT
                } else {
                    KEY_RELEASE_EVENT
                },
                k,
                0,
                0,
            )?;
        }
        if state.held_keys.contains(&keycode) {
            // A press of a key that is down is the browser repeating a held key. X runs
            // without autorepeat (server.rs) and would drop it: repeat as X's own
            // autorepeat does, a release before each further press.
            self.fake(KEY_RELEASE_EVENT, keycode, 0, 0)?;
        }
        self.fake(KEY_PRESS_EVENT, keycode, 0, 0)?;
        for &(k, down) in changes.iter().rev() {
            self.fake(
                if down {
                    KEY_RELEASE_EVENT
                } else {
                    KEY_PRESS_EVENT
                },
                k,
                0,
                0,
            )?;
        }
        if !state.held_keys.contains(&keycode) {
            state.held_keys.push(keycode);
        }
        state.pressed.insert(keysym, keycode);
        Ok(())
    }

    fn release(&self, state: &mut State, keysym: u32) -> Result<()> {
        let keycode = match state.pressed.remove(&keysym) {
            Some(keycode) => keycode,
            // The keysym can differ between press and release ('a' down, Shift down, 'A'
            // up): release the held key that carries it at any level.
            None => {
                self.load_keymap(state)?;
                let keymap = state.keymap.as_ref().expect("loaded above");
                let carrying = |&kc: &u8| {
                    [false, true].into_iter().any(|shift| {
                        same_symbol(
                            keymap.produced(
                                kc,
                                Levels {
                                    shift,
                                    level3: false,
                                },
                            ),
                            keysym,
                        )
                    })
                };
                match state.held_keys.iter().copied().find(carrying) {
                    Some(keycode) => keycode,
                    // Not held (e.g. released by release_all already): nothing to do.
                    None => return Ok(()),
                }
            }
        };
        state.held_keys.retain(|&k| k != keycode);
        state.pressed.retain(|_, &mut k| k != keycode);
        self.fake(KEY_RELEASE_EVENT, keycode, 0, 0)
    }

    /// Put `keysym` on a spare keycode (reusing its earlier one, else the least recently
    /// used one that is not held) and return the keycode.
    fn remap(&self, state: &mut State, keysym: u32) -> Result<u8> {
        if let Some(i) = state.remapped.iter().position(|&(s, _)| s == keysym) {
            let entry = state.remapped.remove(i);
            state.remapped.push(entry);
            return Ok(entry.1);
        }
        let keymap = state.keymap.as_mut().expect("loaded by press");
        let spare = keymap
            .spare_keycodes()
            .into_iter()
            .find(|kc| !state.remapped.iter().any(|&(_, k)| k == *kc));
        let keycode = match spare {
            Some(kc) if state.remapped.len() < MAX_REMAPPED => kc,
            _ => {
                let i = state
                    .remapped
                    .iter()
                    .position(|&(_, k)| !state.held_keys.contains(&k))
                    .context("no spare keycode left to type this character")?;
                state.remapped.remove(i).1
            }
        };
        // Both levels carry the keysym, so a held Shift doesn't change what is typed.
        let syms = [keysym, keysym];
        self.conn
            .change_keyboard_mapping(1, keycode, 2, &syms)?
            .check()
            .context("ChangeKeyboardMapping")?;
        keymap.set(keycode, &syms);
        state.remapped.push((keysym, keycode));
        Ok(keycode)
    }

    fn load_keymap(&self, state: &mut State) -> Result<()> {
        if state.keymap.is_some() {
            return Ok(());
        }
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let reply = self
            .conn
            .get_keyboard_mapping(min, max - min + 1)?
            .reply()
            .context("GetKeyboardMapping")?;
        let keymap = Keymap {
            min_keycode: min,
            per_keycode: usize::from(reply.keysyms_per_keycode),
            syms: reply.keysyms,
        };
        if keymap.per_keycode == 0 {
            bail!("the server reports an empty keyboard mapping");
        }
        // Keycodes we remapped earlier are still remapped on the server; drop entries
        // another client has changed since.
        state
            .remapped
            .retain(|&(sym, kc)| keymap.syms_of(kc).first() == Some(&sym));
        state.keymap = Some(keymap);
        Ok(())
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<()> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.conn.flush().context("flushing input")
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Held keycodes whose level-1 keysym is one of `keysyms`.
fn held_with(keymap: &Keymap, held: &[u8], keysyms: &[u32]) -> Vec<u8> {
    held.iter()
        .copied()
        .filter(|&kc| keysyms.contains(&keymap.produced(kc, Levels::default())))
        .collect()
}

impl EventHandler for Input {
    /// Any keymap change (ours included) makes the cached mapping stale.
    fn handle(&self, event: &Event, _emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        if let Event::MappingNotify(n) = event {
            if n.request == Mapping::KEYBOARD || n.request == Mapping::MODIFIER {
                self.lock().keymap = None;
            }
        }
        Ok(())
    }
}
