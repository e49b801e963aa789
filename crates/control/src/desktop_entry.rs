//! The freedesktop `.desktop` entries an image's catalog is made from: which
//! are applications a catalog shows, and their name, program, arguments and
//! icon. Pure text in, values out: finding the files and programs is the
//! caller's IO.

/// The parts of a freedesktop .desktop file the catalog needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopEntry {
    pub display_name: String,
    /// Exec='s program as written: a path, or a name to look for on the image's PATH.
    pub program: String,
    /// Exec='s arguments without field codes (%f, %U, ...).
    pub args: Vec<String>,
    pub icon: Option<String>,
    pub try_exec: Option<String>,
}

/// Parses a .desktop file's [Desktop Entry] group. None unless it is an
/// application a catalog shows: Type=Application with a Name and an Exec, not
/// NoDisplay, Hidden, Terminal=true or desktop-specific (OnlyShowIn), and
/// with arguments that LaunchParameters (split at whitespace) can carry.
pub fn parse_desktop_entry(text: &str) -> Option<DesktopEntry> {
    let mut keys = std::collections::HashMap::new();
    let mut in_entry = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
        } else if in_entry && !line.starts_with('#') {
            if let Some((key, value)) = line.split_once('=') {
                keys.entry(key.trim())
                    .or_insert_with(|| unescape(value.trim()));
            }
        }
    }
    let flag = |key: &str| keys.get(key).is_some_and(|v| v == "true");
    if keys.get("Type").map(String::as_str) != Some("Application")
        || flag("NoDisplay")
        || flag("Hidden")
        || flag("Terminal")
        || keys.contains_key("OnlyShowIn")
    {
        return None;
    }
    let display_name = keys.get("Name").filter(|n| !n.is_empty())?.clone();
    let mut words = exec_words(keys.get("Exec")?)?.into_iter();
    let program = words.next()?;
    let args: Vec<String> = words.filter_map(|w| strip_field_codes(&w)).collect();
    if args.iter().any(|a| a.chars().any(char::is_whitespace)) {
        return None;
    }
    Some(DesktopEntry {
        display_name,
        program,
        args,
        icon: keys.get("Icon").filter(|i| !i.is_empty()).cloned(),
        try_exec: keys.get("TryExec").filter(|t| !t.is_empty()).cloned(),
    })
}

/// The escapes of a .desktop string value (\s, \n, \t, \r, \\).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                // Exec='s own quoting escapes (\" \$ ...) are for exec_words.
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Exec='s words: separated by spaces, double-quoted words may hold spaces
/// and backslash-escaped characters. None when a quote is left open.
fn exec_words(exec: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = exec.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        c => w.push(c),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// An argument without its field codes; None when nothing is left of it
/// (the argument was only a field code: a file, URL, icon or name to pass).
fn strip_field_codes(arg: &str) -> Option<String> {
    let mut out = String::with_capacity(arg.len());
    let mut had_code = false;
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            _ => had_code = true,
        }
    }
    (!(had_code && out.is_empty())).then_some(out)
}

/// AppStream's Application Name pattern, which catalog names must keep.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 100
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Option<DesktopEntry> {
        parse_desktop_entry(&format!("[Desktop Entry]\nType=Application\n{text}"))
    }

    #[test]
    fn an_application_entry_gives_name_program_arguments_and_icon() {
        let text = "# comment\n[Desktop Entry]\nName=Chromium Web Browser\nName[de]=Chromium-Webbrowser\n\
                    Exec=/usr/bin/chromium --incognito %U\nIcon=chromium\nType=Application\n\
                    [Desktop Action new-window]\nName=New Window\nExec=/usr/bin/chromium --new-window\n";
        assert_eq!(
            parse_desktop_entry(text),
            Some(DesktopEntry {
                display_name: "Chromium Web Browser".into(),
                program: "/usr/bin/chromium".into(),
                args: vec!["--incognito".into()],
                icon: Some("chromium".into()),
                try_exec: None,
            })
        );
    }

    #[test]
    fn field_codes_are_removed_and_quotes_and_escapes_understood() {
        let e = entry(
            r#"Name=A\sB
Exec="/opt/my app/run" --file=%f %U 100%% %i %c"#,
        );
        // A program path with a space is fine (it is LaunchPath, not a parameter).
        let e = e.unwrap();
        assert_eq!(e.display_name, "A B");
        assert_eq!(e.program, "/opt/my app/run");
        assert_eq!(e.args, ["--file=", "100%"]);

        let e = entry(
            r#"Name=X
Exec=prog "a\\\\b" "say \"hi\"""#,
        );
        // A quoted argument with a space cannot survive LaunchParameters' split.
        assert_eq!(e, None);
        let e = entry(
            r#"Name=X
Exec=prog "a\\\\b" "\$HOME""#,
        )
        .unwrap();
        assert_eq!(e.args, [r"a\b", "$HOME"]);
        assert_eq!(entry("Name=X\nExec=prog \"open"), None);
    }

    #[test]
    fn hidden_terminal_and_non_application_entries_are_not_catalog_apps() {
        for text in [
            "Name=X\nExec=x\nNoDisplay=true",
            "Name=X\nExec=x\nHidden=true",
            "Name=X\nExec=vim %F\nTerminal=true",
            "Name=X\nExec=x\nOnlyShowIn=GNOME;",
            "Name=X",
            "Exec=x",
            "Name=\nExec=x",
        ] {
            assert_eq!(entry(text), None, "{text}");
        }
        assert_eq!(
            parse_desktop_entry("[Desktop Entry]\nType=Link\nName=X\nExec=x\nURL=http://x"),
            None
        );
        assert_eq!(
            parse_desktop_entry("Type=Application\nName=X\nExec=x"),
            None
        );
        assert!(entry("Name=X\nExec=x\nTerminal=false\nNoDisplay=false").is_some());
    }

    #[test]
    fn catalog_names_follow_appstream_s_pattern() {
        for good in ["xterm", "org.gnome.gedit", "a_b-c", "9"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "-x", "a b", "é", &"a".repeat(101)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
