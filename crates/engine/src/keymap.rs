//! Browser keyboard events to X keysyms.
//!
//! The browser reports `KeyboardEvent.code` (the physical key) and `.key` (what
//! the key produces under the user's layout). We type what the user *meant*, so
//! printable keys map by `key`; `code` only decides where the layout-independent
//! identity matters: left vs right modifiers and the numeric keypad.

const XK_SHIFT_L: u32 = 0xffe1;
const XK_SHIFT_R: u32 = 0xffe2;
const XK_CONTROL_L: u32 = 0xffe3;
const XK_CONTROL_R: u32 = 0xffe4;
const XK_CAPS_LOCK: u32 = 0xffe5;
const XK_ALT_L: u32 = 0xffe9;
const XK_ALT_R: u32 = 0xffea;
const XK_SUPER_L: u32 = 0xffeb;
const XK_SUPER_R: u32 = 0xffec;
const XK_ISO_LEVEL3_SHIFT: u32 = 0xfe03;
const XK_RETURN: u32 = 0xff0d;
const XK_TAB: u32 = 0xff09;
const XK_BACKSPACE: u32 = 0xff08;
const XK_F1: u32 = 0xffbe;
const XK_KP_0: u32 = 0xffb0;
const XK_EURO_SIGN: u32 = 0x20ac;
/// Keysyms for code points without a legacy keysym (keysymdef.h, "Unicode").
const UNICODE_KEYSYM_BASE: u32 = 0x0100_0000;

/// The keysym for a browser key event, or `None` when the event carries no key to
/// press (dead keys and IME composition: their text arrives as a `Text` message).
pub fn keysym_for_key(code: &str, key: &str) -> Option<u32> {
    if matches!(key, "" | "Dead" | "Unidentified" | "Process") {
        return None;
    }
    if let Some(sym) = modifier_by_code(code, key) {
        return Some(sym);
    }
    if let Some(sym) = keypad_by_code(code, key) {
        return Some(sym);
    }
    if let Some(sym) = named_key(key) {
        return Some(sym);
    }
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(keysym_for_char(c)),
        // Multi-scalar keys (e.g. a grapheme cluster) have no single keysym.
        _ => None,
    }
}

/// The keysym that types `c` (used for `Text` messages).
pub fn keysym_for_char(c: char) -> u32 {
    let cp = u32::from(c);
    match c {
        // Text from the browser uses '\n' for line breaks; X apps expect Return.
        '\n' | '\r' => XK_RETURN,
        '\t' => XK_TAB,
        '\u{8}' => XK_BACKSPACE,
        '\u{1b}' => 0xff1b, // Escape
        '\u{7f}' => 0xffff, // Delete
        // Latin-1 keysyms equal their code points.
        '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => cp,
        // Layouts with a Euro key (us altgr-intl, de, fr, ...) bind the legacy
        // EuroSign, so typing it finds the existing key instead of remapping one.
        '€' => XK_EURO_SIGN,
        _ => UNICODE_KEYSYM_BASE + cp,
    }
}

/// Modifiers are identified by `code` so that left and right stay distinct
/// (applications bind Control_R, and AltGr must not act as Alt).
fn modifier_by_code(code: &str, key: &str) -> Option<u32> {
    Some(match code {
        "ShiftLeft" => XK_SHIFT_L,
        "ShiftRight" => XK_SHIFT_R,
        "ControlLeft" => XK_CONTROL_L,
        "ControlRight" => XK_CONTROL_R,
        "AltLeft" => XK_ALT_L,
        "AltRight" if key == "AltGraph" => XK_ISO_LEVEL3_SHIFT,
        "AltRight" => XK_ALT_R,
        // "OS*" is what older browsers call the Meta keys.
        "MetaLeft" | "OSLeft" => XK_SUPER_L,
        "MetaRight" | "OSRight" => XK_SUPER_R,
        _ => return None,
    })
}

/// Keypad keys keep their keypad keysyms (apps such as calculators and games tell
/// them apart). With NumLock off the browser reports `key` as "Home", "ArrowUp",
/// ...: those fall through to the named keys.
fn keypad_by_code(code: &str, key: &str) -> Option<u32> {
    let rest = code.strip_prefix("Numpad")?;
    if rest == "Enter" {
        return Some(0xff8d);
    }
    if named_key(key).is_some() {
        return None;
    }
    if let Some(digit) = rest.parse::<u32>().ok().filter(|d| *d <= 9) {
        return Some(XK_KP_0 + digit);
    }
    Some(match rest {
        "Add" => 0xffab,
        "Subtract" => 0xffad,
        "Multiply" => 0xffaa,
        "Divide" => 0xffaf,
        "Decimal" => 0xffae,
        "Comma" => 0xffac,
        "Equal" => 0xffbd,
        _ => return None,
    })
}

/// Non-printing keys by their `KeyboardEvent.key` name (UI Events KeyboardEvent key values).
fn named_key(key: &str) -> Option<u32> {
    if let Some(n) = key
        .strip_prefix('F')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=35).contains(n))
    {
        return Some(XK_F1 + n - 1);
    }
    Some(match key {
        "Enter" => XK_RETURN,
        "Tab" => XK_TAB,
        "Backspace" => XK_BACKSPACE,
        "Escape" => 0xff1b,
        "Delete" => 0xffff,
        "Insert" => 0xff63,
        "Home" => 0xff50,
        "End" => 0xff57,
        "PageUp" => 0xff55,
        "PageDown" => 0xff56,
        "ArrowLeft" => 0xff51,
        "ArrowUp" => 0xff52,
        "ArrowRight" => 0xff53,
        "ArrowDown" => 0xff54,
        "Clear" => 0xff0b,
        "CapsLock" => XK_CAPS_LOCK,
        "NumLock" => 0xff7f,
        "ScrollLock" => 0xff14,
        "PrintScreen" => 0xff61,
        "Pause" => 0xff13,
        "ContextMenu" => 0xff67,
        "Help" => 0xff6a,
        "Select" => 0xff60,
        "Execute" => 0xff62,
        "Find" => 0xff68,
        "Undo" => 0xff65,
        "Redo" => 0xff66,
        "Cancel" => 0xff69,
        "Compose" => 0xff20,
        "AltGraph" => XK_ISO_LEVEL3_SHIFT,
        // Generic modifiers, for events whose `code` did not identify a side.
        "Shift" => XK_SHIFT_L,
        "Control" => XK_CONTROL_L,
        "Alt" => XK_ALT_L,
        "Meta" | "OS" | "Super" => XK_SUPER_L,
        "Hyper" => 0xffed,
        // Input-method keys on Japanese and Korean keyboards.
        "Convert" => 0xff23,
        "NonConvert" => 0xff22,
        "KanaMode" => 0xff2d,
        "HiraganaKatakana" => 0xff27,
        "Eisu" => 0xff2f,
        "HangulMode" => 0xff31,
        "HanjaMode" => 0xff34,
        // XF86 media and browser keys.
        "AudioVolumeDown" => 0x1008_ff11,
        "AudioVolumeMute" => 0x1008_ff12,
        "AudioVolumeUp" => 0x1008_ff13,
        "MediaPlayPause" => 0x1008_ff14,
        "MediaStop" => 0x1008_ff15,
        "MediaTrackPrevious" => 0x1008_ff16,
        "MediaTrackNext" => 0x1008_ff17,
        "BrowserHome" => 0x1008_ff18,
        "BrowserSearch" => 0x1008_ff1b,
        "BrowserBack" => 0x1008_ff26,
        "BrowserForward" => 0x1008_ff27,
        "BrowserRefresh" => 0x1008_ff29,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: &str, key: &str, expected: Option<u32>) {
        assert_eq!(
            keysym_for_key(code, key),
            expected,
            "code={code:?} key={key:?}"
        );
    }

    #[test]
    fn printable_keys_map_by_key_not_by_code() {
        check("KeyA", "a", Some(0x61));
        check("KeyA", "A", Some(0x41));
        check("Digit1", "1", Some(0x31));
        check("Digit1", "!", Some(0x21));
        check("Space", " ", Some(0x20));
        // AZERTY: the key at QWERTY's 'Q' types 'a'.
        check("KeyQ", "a", Some(0x61));
    }

    #[test]
    fn latin1_characters_use_their_code_point() {
        check("Digit2", "é", Some(0xe9));
        check("Minus", "ß", Some(0xdf));
        check("Semicolon", "ñ", Some(0xf1));
        check("BracketLeft", "ü", Some(0xfc));
    }

    #[test]
    fn euro_uses_the_legacy_keysym_and_others_the_unicode_range() {
        check("KeyE", "€", Some(0x20ac));
        check("KeyW", "Ω", Some(0x0100_03a9));
    }

    #[test]
    fn named_keys() {
        check("Enter", "Enter", Some(0xff0d));
        check("Tab", "Tab", Some(0xff09));
        check("Backspace", "Backspace", Some(0xff08));
        check("Escape", "Escape", Some(0xff1b));
        check("PageUp", "PageUp", Some(0xff55));
        check("PageDown", "PageDown", Some(0xff56));
        check("ArrowUp", "ArrowUp", Some(0xff52));
        check("F5", "F5", Some(0xffc2));
        check("F1", "F1", Some(0xffbe));
        check("F24", "F24", Some(0xffd5));
        check("PrintScreen", "PrintScreen", Some(0xff61));
        check("ContextMenu", "ContextMenu", Some(0xff67));
        check("CapsLock", "CapsLock", Some(0xffe5));
    }

    #[test]
    fn f_prefix_alone_is_a_letter_not_a_function_key() {
        check("KeyF", "F", Some(0x46));
        check("", "F0", None);
    }

    #[test]
    fn modifiers_keep_their_side() {
        check("ShiftLeft", "Shift", Some(0xffe1));
        check("ShiftRight", "Shift", Some(0xffe2));
        check("ControlLeft", "Control", Some(0xffe3));
        check("ControlRight", "Control", Some(0xffe4));
        check("AltLeft", "Alt", Some(0xffe9));
        check("AltRight", "Alt", Some(0xffea));
        check("MetaLeft", "Meta", Some(0xffeb));
        check("MetaRight", "Meta", Some(0xffec));
        check("", "Shift", Some(0xffe1));
    }

    #[test]
    fn altgr_is_level3_shift() {
        check("AltRight", "AltGraph", Some(0xfe03));
    }

    #[test]
    fn keypad_keys_by_code() {
        check("Numpad5", "5", Some(0xffb5));
        check("Numpad0", "0", Some(0xffb0));
        check("NumpadAdd", "+", Some(0xffab));
        check("NumpadDecimal", ",", Some(0xffae));
        check("NumpadEnter", "Enter", Some(0xff8d));
        // NumLock off: the keypad key acts as the navigation key it reports.
        check("Numpad8", "ArrowUp", Some(0xff52));
    }

    #[test]
    fn keys_without_a_keysym_are_none() {
        check("BracketLeft", "Dead", None);
        check("KeyA", "Process", None);
        check("", "Unidentified", None);
        check("KeyA", "", None);
        check("", "🇩🇪", None);
        check("", "NoSuchKey", None);
    }

    #[test]
    fn text_characters() {
        assert_eq!(keysym_for_char('a'), 0x61);
        assert_eq!(keysym_for_char('é'), 0xe9);
        assert_eq!(keysym_for_char('€'), 0x20ac);
        assert_eq!(keysym_for_char('Ω'), 0x0100_03a9);
        assert_eq!(keysym_for_char('😀'), 0x0101_f600);
        assert_eq!(keysym_for_char('\n'), 0xff0d);
        assert_eq!(keysym_for_char('\t'), 0xff09);
    }
}
