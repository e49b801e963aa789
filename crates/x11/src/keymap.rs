//! Pure keymap logic: which keycode and shift level produce a keysym, and keysyms for
//! characters. The core keyboard mapping an XKB server reports lists, per keycode, the
//! columns group1-level1, group1-level2, group2-level1, group2-level2, group1-level3,
//! group1-level4; we only use group 1.

pub const NO_SYMBOL: u32 = 0;
pub const XK_SHIFT_L: u32 = 0xffe1;
pub const XK_SHIFT_R: u32 = 0xffe2;
pub const XK_ISO_LEVEL3_SHIFT: u32 = 0xfe03;
pub const XK_RETURN: u32 = 0xff0d;
const XK_EURO_SIGN: u32 = 0x20ac;
/// Keysyms for code points outside Latin-1 are this plus the code point.
const UNICODE_KEYSYM: u32 = 0x0100_0000;

/// Modifier state that selects a shift level (Caps Lock and Num Lock are not modelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Levels {
    pub shift: bool,
    pub level3: bool,
}

impl Levels {
    const ALL: [Levels; 4] = [
        Levels {
            shift: false,
            level3: false,
        },
        Levels {
            shift: true,
            level3: false,
        },
        Levels {
            shift: false,
            level3: true,
        },
        Levels {
            shift: true,
            level3: true,
        },
    ];

    fn distance(self, other: Levels) -> u8 {
        u8::from(self.shift != other.shift) + u8::from(self.level3 != other.level3)
    }
}

/// The server's core keyboard mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub min_keycode: u8,
    pub per_keycode: usize,
    /// `per_keycode` keysyms for each keycode from `min_keycode` on.
    pub syms: Vec<u32>,
}

impl Keymap {
    pub fn keycodes(&self) -> impl Iterator<Item = u8> + '_ {
        let count = self.syms.len().checked_div(self.per_keycode).unwrap_or(0);
        (0..count).map(move |i| self.min_keycode + i as u8)
    }

    pub fn syms_of(&self, keycode: u8) -> &[u32] {
        let start = usize::from(keycode.wrapping_sub(self.min_keycode)) * self.per_keycode;
        self.syms
            .get(start..start + self.per_keycode)
            .unwrap_or(&[])
    }

    /// Replace the keysyms of one keycode (after ChangeKeyboardMapping).
    pub fn set(&mut self, keycode: u8, syms: &[u32]) {
        let start = usize::from(keycode - self.min_keycode) * self.per_keycode;
        for (i, slot) in self.syms[start..start + self.per_keycode]
            .iter_mut()
            .enumerate()
        {
            *slot = syms.get(i).copied().unwrap_or(NO_SYMBOL);
        }
    }

    /// The keysym `keycode` produces with `levels` held, as XKB resolves the usual key
    /// types: a missing level 2 falls back to level 1, and keys without level 3 ignore it.
    pub fn produced(&self, keycode: u8, levels: Levels) -> u32 {
        let syms = self.syms_of(keycode);
        let col = |i: usize| syms.get(i).copied().unwrap_or(NO_SYMBOL);
        if levels.level3 {
            let sym = if levels.shift && col(5) != NO_SYMBOL {
                col(5)
            } else {
                col(4)
            };
            if sym != NO_SYMBOL {
                return sym;
            }
        }
        if levels.shift && col(1) != NO_SYMBOL {
            col(1)
        } else {
            col(0)
        }
    }

    /// A keycode producing `keysym`, with the levels to hold for it: the current levels
    /// if any key works with them, else the fewest modifier changes. Level 3 is only
    /// considered when the keyboard has a Level3 key to press.
    pub fn find(&self, keysym: u32, held: Levels, level3_available: bool) -> Option<(u8, Levels)> {
        let mut levels = Levels::ALL.to_vec();
        levels.retain(|l| level3_available || !l.level3 || held.level3);
        levels.sort_by_key(|l| l.distance(held));
        levels.into_iter().find_map(|l| {
            self.keycodes()
                .find(|&kc| same_symbol(self.produced(kc, l), keysym))
                .map(|kc| (kc, l))
        })
    }

    /// The first keycode whose level-1 keysym is `keysym` (for modifier keys).
    pub fn keycode_of(&self, keysym: u32) -> Option<u8> {
        self.keycodes()
            .find(|&kc| self.syms_of(kc).first() == Some(&keysym))
    }

    /// Keycodes with no keysym at all, highest first: free to remap.
    pub fn spare_keycodes(&self) -> Vec<u8> {
        let mut spare: Vec<u8> = self
            .keycodes()
            .filter(|&kc| self.syms_of(kc).iter().all(|&s| s == NO_SYMBOL))
            .collect();
        spare.reverse();
        spare
    }
}

/// The character a keysym types, for keysyms with a Unicode equivalent we handle.
pub fn keysym_char(keysym: u32) -> Option<char> {
    match keysym {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(keysym),
        0x0100_0100..=0x0110_ffff => char::from_u32(keysym - UNICODE_KEYSYM),
        XK_EURO_SIGN => Some('€'),
        _ => None,
    }
}

/// Equal keysyms, or two spellings of one character (EuroSign and U+20AC).
pub fn same_symbol(a: u32, b: u32) -> bool {
    a != NO_SYMBOL && (a == b || keysym_char(a).is_some_and(|c| keysym_char(b) == Some(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Levels = Levels {
        shift: false,
        level3: false,
    };
    const SHIFT: Levels = Levels {
        shift: true,
        level3: false,
    };
    const L3: Levels = Levels {
        shift: false,
        level3: true,
    };

    /// keycodes 10.. : q Q / Return / 1 ! / e E EuroSign / (spare) / Shift_L / (spare)
    fn map() -> Keymap {
        let rows: [[u32; 6]; 7] = [
            ['q' as u32, 'Q' as u32, 'q' as u32, 'Q' as u32, 0, 0],
            [XK_RETURN, 0, XK_RETURN, 0, 0, 0],
            ['1' as u32, '!' as u32, '1' as u32, '!' as u32, 0, 0],
            [
                'e' as u32,
                'E' as u32,
                'e' as u32,
                'E' as u32,
                XK_EURO_SIGN,
                0,
            ],
            [0; 6],
            [XK_SHIFT_L, 0, XK_SHIFT_L, 0, 0, 0],
            [0; 6],
        ];
        Keymap {
            min_keycode: 10,
            per_keycode: 6,
            syms: rows.concat(),
        }
    }

    #[test]
    fn lowercase_needs_no_modifier() {
        assert_eq!(map().find('q' as u32, NONE, true), Some((10, NONE)));
    }

    #[test]
    fn uppercase_adds_shift_and_held_shift_is_kept() {
        assert_eq!(map().find('Q' as u32, NONE, true), Some((10, SHIFT)));
        assert_eq!(map().find('!' as u32, SHIFT, true), Some((12, SHIFT)));
    }

    #[test]
    fn held_shift_is_released_for_lowercase() {
        assert_eq!(map().find('q' as u32, SHIFT, true), Some((10, NONE)));
    }

    #[test]
    fn keys_without_level_two_keep_held_shift() {
        // Shift+Return must stay Shift+Return (text selection, shortcuts).
        assert_eq!(map().find(XK_RETURN, SHIFT, true), Some((11, SHIFT)));
    }

    #[test]
    fn level3_symbol_found_by_either_spelling() {
        assert_eq!(map().find(XK_EURO_SIGN, NONE, true), Some((13, L3)));
        assert_eq!(
            map().find(porthole_engine::keymap::keysym_for_char('€'), NONE, true),
            Some((13, L3))
        );
    }

    #[test]
    fn level3_ignored_without_a_level3_key() {
        assert_eq!(map().find(XK_EURO_SIGN, NONE, false), None);
    }

    #[test]
    fn missing_symbol_is_not_found() {
        assert_eq!(
            map().find(porthole_engine::keymap::keysym_for_char('é'), NONE, true),
            None
        );
    }

    #[test]
    fn spare_keycodes_highest_first() {
        assert_eq!(map().spare_keycodes(), vec![16, 14]);
    }

    #[test]
    fn remapped_keycode_produces_its_symbol_at_every_level() {
        let mut m = map();
        m.set(14, &[0xe9, 0xe9]);
        assert_eq!(m.find(0xe9, SHIFT, true), Some((14, SHIFT)));
        assert_eq!(m.syms_of(14), &[0xe9, 0xe9, 0, 0, 0, 0]);
    }

    #[test]
    fn keysym_chars() {
        assert_eq!(keysym_char(0x0100_03a9), Some('Ω'));
        assert_eq!(keysym_char(0x20ac), Some('€'));
        assert!(same_symbol(0x20ac, 0x0100_20ac));
        assert!(!same_symbol(NO_SYMBOL, NO_SYMBOL));
    }
}
