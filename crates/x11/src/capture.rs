//! Screen capture: XDamage says what changed, MIT-SHM ShmGetImage copies it into a
//! full-screen mirror.
//!
//! Ordering contract: damage must be acknowledged (subtracted) *before* the pixels are
//! read, otherwise a change landing between the read and the acknowledgement is lost.
//! [`ScreenMirror::grab`] does this itself when built [`with_damage`](ScreenMirror::with_damage):
//! collect the rects from [`XEvent::Damage`](crate::XEvent::Damage), then call `grab`.
//! A change made after the acknowledgement produces a new event, so nothing is missed;
//! at worst an area is captured twice.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use porthole_engine::{FrameBuf, FrameRef, Rect};
use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};
use x11rb::connection::Connection;
use x11rb::protocol::damage::{self, ConnectionExt as _, ReportLevel};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ImageFormat, Window};
use x11rb::protocol::Event;

use crate::events::{EventHandler, XEvent};
use crate::Conn;

/// The XDamage object on the root window.
///
/// Report level `DeltaRectangles`: each event carries one exact rectangle, and only area
/// not already in the un-acknowledged damage region is reported, so an app redrawing the
/// same spot many times between two captures costs one event. `RawRectangles` would
/// report every drawing request (xterm sends several per glyph run) and `BoundingBox` /
/// `NonEmpty` lose the exact rects.
#[derive(Clone)]
pub struct DamageTracker {
    conn: Arc<Conn>,
    damage: damage::Damage,
}

impl DamageTracker {
    pub fn new(conn: Arc<Conn>, root: Window) -> Result<Self> {
        conn.damage_query_version(1, 1)?
            .reply()
            .context("DAMAGE extension missing")?;
        let damage = conn.generate_id()?;
        conn.damage_create(damage, root, ReportLevel::DELTA_RECTANGLES)?
            .check()
            .context("DamageCreate")?;
        Ok(Self { conn, damage })
    }

    /// Clear the damage region so the next change to any area is reported again.
    /// Queued on the shared connection: requests sent after it (ShmGetImage) are
    /// processed after it.
    pub fn acknowledge(&self) -> Result<()> {
        self.conn
            .damage_subtract(self.damage, x11rb::NONE, x11rb::NONE)?;
        Ok(())
    }
}

impl EventHandler for DamageTracker {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        if let Event::DamageNotify(n) = event {
            if n.damage == self.damage {
                let rect = damage_rect(&n.area);
                if !rect.is_empty() {
                    emit(XEvent::Damage(rect));
                }
            }
        }
        Ok(())
    }
}

/// Damage areas can start off-screen (a window dragged past the left edge): clip at 0.
fn damage_rect(area: &x11rb::protocol::xproto::Rectangle) -> Rect {
    let x0 = i32::from(area.x).max(0);
    let y0 = i32::from(area.y).max(0);
    let x1 = i32::from(area.x) + i32::from(area.width);
    let y1 = i32::from(area.y) + i32::from(area.height);
    if x1 <= x0 || y1 <= y0 {
        return Rect::default();
    }
    Rect::new(x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32)
}

/// A full-screen copy of the root window, updated rect by rect through MIT-SHM.
pub struct ScreenMirror {
    conn: Arc<Conn>,
    root: Window,
    segment: ShmSegment,
    mirror: FrameBuf,
    damage: Option<DamageTracker>,
}

impl ScreenMirror {
    pub fn new(conn: Arc<Conn>, root: Window, width: u32, height: u32) -> Result<Self> {
        conn.shm_query_version()?
            .reply()
            .context("MIT-SHM extension missing")?;
        check_32bpp(&conn, root)?;
        let segment = ShmSegment::new(&conn, frame_bytes(width, height))?;
        Ok(Self {
            conn,
            root,
            segment,
            mirror: FrameBuf::new(width, height),
            damage: None,
        })
    }

    /// Acknowledge this damage object at the start of every [`grab`](Self::grab).
    pub fn with_damage(mut self, damage: DamageTracker) -> Self {
        self.damage = Some(damage);
        self
    }

    /// Acknowledge damage (if attached), then copy each rect (clipped to the mirror) from
    /// the screen into the mirror. Rects are fetched in batches that fit the segment, with
    /// one round trip per batch. Fails with BadMatch if the screen shrank below the
    /// mirror: call [`resize`](Self::resize) on `ScreenResized` first.
    pub fn grab(&mut self, rects: &[Rect]) -> Result<()> {
        if let Some(damage) = &self.damage {
            damage.acknowledge()?;
        }
        let bounds = self.mirror.as_ref().bounds();
        let conn: Arc<Conn> = self.conn.clone();
        let conn: &Conn = &conn;
        let mut batch = Vec::new();
        let mut used = 0usize;
        for rect in rects
            .iter()
            .map(|r| r.intersect(&bounds))
            .filter(|r| !r.is_empty())
        {
            let bytes = rect.area() as usize * 4;
            if used + bytes > self.segment.len {
                self.finish(std::mem::take(&mut batch))?;
                used = 0;
            }
            let cookie = conn.shm_get_image(
                self.root,
                rect.x as i16,
                rect.y as i16,
                rect.w as u16,
                rect.h as u16,
                !0,
                ImageFormat::Z_PIXMAP.into(),
                self.segment.seg,
                used as u32,
            )?;
            batch.push((rect, used, cookie));
            used += bytes;
        }
        self.finish(batch)
    }

    fn finish(
        &mut self,
        batch: Vec<(
            Rect,
            usize,
            x11rb::cookie::Cookie<'_, Conn, shm::GetImageReply>,
        )>,
    ) -> Result<()> {
        // Wait for every reply first: once a reply arrived the server has written that rect.
        let mut done = Vec::with_capacity(batch.len());
        for (rect, offset, cookie) in batch {
            cookie
                .reply()
                .with_context(|| format!("ShmGetImage {rect:?}"))?;
            done.push((rect, offset));
        }
        let shared = self.segment.bytes();
        let stride = self.mirror.stride();
        for (rect, offset) in done {
            let row_bytes = rect.w as usize * 4;
            for row in 0..rect.h as usize {
                let src = offset + row * row_bytes;
                let dst = (rect.y as usize + row) * stride + rect.x as usize * 4;
                self.mirror.pixels[dst..dst + row_bytes]
                    .copy_from_slice(&shared[src..src + row_bytes]);
            }
        }
        Ok(())
    }

    /// The mirror: BGRX, as [`FrameRef`] documents.
    pub fn frame(&self) -> FrameRef<'_> {
        self.mirror.as_ref()
    }

    /// Reallocate for a new screen size. The mirror is black until the next full grab.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<()> {
        if (width, height) == (self.mirror.width, self.mirror.height) {
            return Ok(());
        }
        self.segment = ShmSegment::new(&self.conn, frame_bytes(width, height))?;
        self.mirror = FrameBuf::new(width, height);
        Ok(())
    }
}

fn frame_bytes(width: u32, height: u32) -> usize {
    (width as usize * height as usize * 4).max(4)
}

/// The mirror format assumes 4 bytes per pixel (depth 24 or 32 at 32 bpp, little endian).
fn check_32bpp(conn: &Conn, root: Window) -> Result<()> {
    let setup = conn.setup();
    let depth = setup
        .roots
        .iter()
        .find(|s| s.root == root)
        .map(|s| s.root_depth)
        .context("unknown root window")?;
    let bpp = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == depth)
        .map(|f| f.bits_per_pixel);
    if bpp != Some(32) || setup.image_byte_order != x11rb::protocol::xproto::ImageOrder::LSB_FIRST {
        bail!("screen depth {depth} has {bpp:?} bits per pixel / {:?}; only 32 bpp LSB-first is supported", setup.image_byte_order);
    }
    Ok(())
}

/// A memfd shared with the server by passing its descriptor (works across IPC
/// namespaces, unlike SysV shmget), mapped read-only on our side.
struct ShmSegment {
    conn: Arc<Conn>,
    seg: shm::Seg,
    ptr: NonNull<c_void>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this struct; nothing about it is
// tied to the thread that created it.
#[allow(unsafe_code)]
unsafe impl Send for ShmSegment {}

impl ShmSegment {
    fn new(conn: &Arc<Conn>, len: usize) -> Result<Self> {
        let fd = memfd_create("porthole-shm", MemfdFlags::CLOEXEC).context("memfd_create")?;
        ftruncate(&fd, len as u64).context("sizing the shm memfd")?;
        // SAFETY: a fresh shared mapping of a memfd we own, at an address the kernel picks;
        // no Rust object aliases it.
        #[allow(unsafe_code)]
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .context("mmap of the shm memfd")?;
        let ptr = NonNull::new(ptr).context("mmap returned null")?;
        // Owned from here on, so an early return unmaps.
        let mut segment = Self {
            conn: conn.clone(),
            seg: 0,
            ptr,
            len,
        };
        let seg = conn.generate_id()?;
        // The server keeps its own reference to the memfd; ours is closed once sent.
        conn.shm_attach_fd(seg, fd, false)?
            .check()
            .context("ShmAttachFd")?;
        segment.seg = seg;
        Ok(segment)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for our lifetime. The server writes into it
        // only while serving a ShmGetImage, and we read only after its reply arrived and
        // before sending the next one (`grab` takes `&mut self`).
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len)
        }
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        if self.seg != 0 {
            let _ = self.conn.shm_detach(self.seg);
            let _ = self.conn.flush();
        }
        // SAFETY: unmaps exactly the mapping created in `new`; `bytes()` borrows of it
        // cannot outlive `self`.
        #[allow(unsafe_code)]
        let _ = unsafe { munmap(self.ptr.as_ptr(), self.len) };
    }
}
