//! What the frame pump and the viewers need from the X display, as traits: the
//! real implementations forward to porthole-x11, tests substitute an in-memory
//! screen and a recording input sink so the pump and viewers run without X.
//!
//! Calls go through `dyn` once per frame or per input message, never per pixel.

use anyhow::Result;
use porthole_engine::{FrameRef, Rect};
use porthole_x11::{CursorImage, Display, ManagedWindow, ScreenMirror};

/// A copy of the screen, brought up to date rect by rect (the pump's capture side).
pub trait Screen: Send {
    /// Copies `rects` (clipped to the mirror) from the screen into the mirror.
    fn grab(&mut self, rects: &[Rect]) -> Result<()>;
    /// The mirror as last grabbed.
    fn frame(&self) -> FrameRef<'_>;
    /// Follows a screen resize; the mirror is black until the next grab.
    fn resize(&mut self, width: u32, height: u32) -> Result<()>;
}

/// The display as the pump reads it and the viewers drive it.
pub trait Desktop: Send + Sync {
    fn cursor_image(&self) -> Result<CursorImage>;
    /// Managed windows, bottom to top.
    fn windows(&self) -> Vec<ManagedWindow>;
    fn pointer_move(&self, x: i32, y: i32) -> Result<()>;
    fn button(&self, button: u8, pressed: bool) -> Result<()>;
    fn key(&self, keysym: u32, pressed: bool) -> Result<()>;
    fn type_text(&self, text: &str) -> Result<()>;
    /// Releases every key and button the viewers hold down.
    fn release_all(&self) -> Result<()>;
    fn set_clipboard(&self, text: &str) -> Result<()>;
    fn focus(&self, window: u32) -> Result<()>;
    /// Asks for a new screen size; the screen reports the resize when done.
    fn resize(&self, width: u32, height: u32) -> Result<()>;
}

impl Screen for ScreenMirror {
    fn grab(&mut self, rects: &[Rect]) -> Result<()> {
        ScreenMirror::grab(self, rects)
    }

    fn frame(&self) -> FrameRef<'_> {
        ScreenMirror::frame(self)
    }

    fn resize(&mut self, width: u32, height: u32) -> Result<()> {
        ScreenMirror::resize(self, width, height)
    }
}

impl Desktop for Display {
    fn cursor_image(&self) -> Result<CursorImage> {
        Display::cursor_image(self)
    }

    fn windows(&self) -> Vec<ManagedWindow> {
        Display::windows(self)
    }

    fn pointer_move(&self, x: i32, y: i32) -> Result<()> {
        self.input().pointer_move(x, y)
    }

    fn button(&self, button: u8, pressed: bool) -> Result<()> {
        self.input().button(button, pressed)
    }

    fn key(&self, keysym: u32, pressed: bool) -> Result<()> {
        self.input().key(keysym, pressed)
    }

    fn type_text(&self, text: &str) -> Result<()> {
        self.input().type_text(text)
    }

    fn release_all(&self) -> Result<()> {
        self.input().release_all()
    }

    fn set_clipboard(&self, text: &str) -> Result<()> {
        Display::set_clipboard(self, text)
    }

    fn focus(&self, window: u32) -> Result<()> {
        Display::focus(self, window)
    }

    fn resize(&self, width: u32, height: u32) -> Result<()> {
        Display::resize(self, width, height)
    }
}

/// In-memory stand-ins for the tests of the pump and the viewers.
#[cfg(test)]
pub mod fake {
    use std::sync::{Arc, Mutex, PoisonError};

    use porthole_engine::FrameBuf;

    use super::*;

    /// A screen the test paints on; grabs copy from it into the mirror and are logged.
    #[derive(Clone)]
    pub struct FakeScreen {
        screen: Arc<Mutex<FrameBuf>>,
        grabs: Arc<Mutex<Vec<Vec<Rect>>>>,
    }

    impl FakeScreen {
        /// A black screen.
        pub fn new(width: u32, height: u32) -> Self {
            Self {
                screen: Arc::new(Mutex::new(FrameBuf::new(width, height))),
                grabs: Arc::default(),
            }
        }

        /// The mirror the pump captures into; shares this screen and its grab log.
        pub fn mirror(&self) -> FakeMirror {
            let screen = lock(&self.screen);
            FakeMirror {
                screen: self.clone(),
                mirror: FrameBuf::new(screen.width, screen.height),
            }
        }

        /// Fills `rect` with one BGRX colour.
        pub fn paint(&self, rect: Rect, bgrx: [u8; 4]) {
            let mut screen = lock(&self.screen);
            let rect = rect.intersect(&screen.as_ref().bounds());
            let stride = screen.stride();
            for y in rect.y..rect.bottom() {
                let row = y as usize * stride;
                let pixels = &mut screen.pixels[row + rect.x as usize * 4..][..rect.w as usize * 4];
                for pixel in pixels.chunks_exact_mut(4) {
                    pixel.copy_from_slice(&bgrx);
                }
            }
        }

        /// The X server changed the screen size: the new screen is black.
        pub fn set_size(&self, width: u32, height: u32) {
            *lock(&self.screen) = FrameBuf::new(width, height);
        }

        /// Every grab so far, in order.
        pub fn grabs(&self) -> Vec<Vec<Rect>> {
            lock(&self.grabs).clone()
        }
    }

    pub struct FakeMirror {
        screen: FakeScreen,
        mirror: FrameBuf,
    }

    impl Screen for FakeMirror {
        fn grab(&mut self, rects: &[Rect]) -> Result<()> {
            lock(&self.screen.grabs).push(rects.to_vec());
            let screen = lock(&self.screen.screen);
            for rect in rects {
                self.mirror.copy_from(&screen.as_ref(), *rect);
            }
            Ok(())
        }

        fn frame(&self) -> FrameRef<'_> {
            self.mirror.as_ref()
        }

        fn resize(&mut self, width: u32, height: u32) -> Result<()> {
            self.mirror = FrameBuf::new(width, height);
            Ok(())
        }
    }

    /// One call a viewer made on the display.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Call {
        PointerMove(i32, i32),
        Button(u8, bool),
        Key(u32, bool),
        Text(String),
        ReleaseAll,
        Clipboard(String),
        Focus(u32),
        Resize(u32, u32),
    }

    /// Records input; serves the cursor and window list the test sets.
    pub struct FakeDesktop {
        calls: Mutex<Vec<Call>>,
        cursor: Mutex<CursorImage>,
        windows: Mutex<Vec<ManagedWindow>>,
    }

    impl Default for FakeDesktop {
        fn default() -> Self {
            Self {
                calls: Mutex::default(),
                cursor: Mutex::new(cursor(1, 0, 16)),
                windows: Mutex::default(),
            }
        }
    }

    /// A `size` x `size` opaque white cursor.
    pub fn cursor(serial: u32, hot_x: u16, size: u16) -> CursorImage {
        CursorImage {
            serial,
            hot_x,
            hot_y: 0,
            width: size,
            height: size,
            rgba: vec![255; usize::from(size) * usize::from(size) * 4],
        }
    }

    impl FakeDesktop {
        /// Every call so far, in order.
        pub fn calls(&self) -> Vec<Call> {
            lock(&self.calls).clone()
        }

        pub fn set_cursor(&self, image: CursorImage) {
            *lock(&self.cursor) = image;
        }

        pub fn set_windows(&self, windows: Vec<ManagedWindow>) {
            *lock(&self.windows) = windows;
        }

        fn record(&self, call: Call) -> Result<()> {
            lock(&self.calls).push(call);
            Ok(())
        }
    }

    impl Desktop for FakeDesktop {
        fn cursor_image(&self) -> Result<CursorImage> {
            Ok(lock(&self.cursor).clone())
        }

        fn windows(&self) -> Vec<ManagedWindow> {
            lock(&self.windows).clone()
        }

        fn pointer_move(&self, x: i32, y: i32) -> Result<()> {
            self.record(Call::PointerMove(x, y))
        }

        fn button(&self, button: u8, pressed: bool) -> Result<()> {
            self.record(Call::Button(button, pressed))
        }

        fn key(&self, keysym: u32, pressed: bool) -> Result<()> {
            self.record(Call::Key(keysym, pressed))
        }

        fn type_text(&self, text: &str) -> Result<()> {
            self.record(Call::Text(text.to_owned()))
        }

        fn release_all(&self) -> Result<()> {
            self.record(Call::ReleaseAll)
        }

        fn set_clipboard(&self, text: &str) -> Result<()> {
            self.record(Call::Clipboard(text.to_owned()))
        }

        fn focus(&self, window: u32) -> Result<()> {
            self.record(Call::Focus(window))
        }

        fn resize(&self, width: u32, height: u32) -> Result<()> {
            self.record(Call::Resize(width, height))
        }
    }

    /// A panicking test thread must not hide the assertion that failed behind poison errors.
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
