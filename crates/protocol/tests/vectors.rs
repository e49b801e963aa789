//! Golden vectors shared with the JavaScript client (web/protocol.test.mjs):
//! both implementations must produce and accept exactly these bytes.
//! Regenerate after a deliberate protocol change with `UPDATE_VECTORS=1 cargo test -p porthole-protocol`.

use porthole_protocol::{ClientMessage, Encoding, NoticeKind, Rect, ServerMessage, WindowInfo};

fn vectors_path() -> std::path::PathBuf {
    // Read at run time: a test binary built from another checkout into a shared
    // target directory must still read this checkout's files.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test or nextest");
    std::path::Path::new(&dir).join("tests/vectors.json")
}

enum Message {
    Client(ClientMessage),
    Server(ServerMessage),
}

/// (name, message, fields as the JS decoder reports them, in JSON)
fn vectors() -> Vec<(&'static str, Message, &'static str)> {
    use Message::{Client, Server};
    vec![
        (
            "hello",
            Client(ClientMessage::Hello {
                version: 1,
                width: 1280,
                height: 720,
                codecs: 1,
            }),
            r#"{"type":"Hello","version":1,"width":1280,"height":720,"codecs":1}"#,
        ),
        (
            "frame_ack",
            Client(ClientMessage::FrameAck { frame_id: 258 }),
            r#"{"type":"FrameAck","frame_id":258}"#,
        ),
        (
            "pointer_move",
            Client(ClientMessage::PointerMove { x: 10, y: 700 }),
            r#"{"type":"PointerMove","x":10,"y":700}"#,
        ),
        (
            "pointer_button",
            Client(ClientMessage::PointerButton {
                button: 3,
                pressed: true,
                x: 1,
                y: 2,
            }),
            r#"{"type":"PointerButton","button":3,"pressed":true,"x":1,"y":2}"#,
        ),
        (
            "wheel",
            Client(ClientMessage::Wheel { dx: -1, dy: 3 }),
            r#"{"type":"Wheel","dx":-1,"dy":3}"#,
        ),
        (
            "key",
            Client(ClientMessage::Key {
                pressed: true,
                code: "KeyE".into(),
                key: "é".into(),
            }),
            r#"{"type":"Key","pressed":true,"code":"KeyE","key":"é"}"#,
        ),
        (
            "text",
            Client(ClientMessage::Text {
                text: "ß€Ω".into()
            }),
            r#"{"type":"Text","text":"ß€Ω"}"#,
        ),
        (
            "resize",
            Client(ClientMessage::Resize {
                width: 1920,
                height: 1080,
            }),
            r#"{"type":"Resize","width":1920,"height":1080}"#,
        ),
        (
            "clipboard_set",
            Client(ClientMessage::ClipboardSet {
                text: "copy me".into(),
            }),
            r#"{"type":"ClipboardSet","text":"copy me"}"#,
        ),
        (
            "release_all",
            Client(ClientMessage::ReleaseAll),
            r#"{"type":"ReleaseAll"}"#,
        ),
        (
            "ping",
            Client(ClientMessage::Ping { timestamp: 123456 }),
            r#"{"type":"Ping","timestamp":123456}"#,
        ),
        (
            "refresh_request",
            Client(ClientMessage::RefreshRequest),
            r#"{"type":"RefreshRequest"}"#,
        ),
        (
            "focus_window",
            Client(ClientMessage::FocusWindow {
                window: 0x0040_0001,
            }),
            r#"{"type":"FocusWindow","window":4194305}"#,
        ),
        (
            "server_hello",
            Server(ServerMessage::ServerHello {
                version: 1,
                session: "s-1".into(),
            }),
            r#"{"type":"ServerHello","version":1,"session":"s-1"}"#,
        ),
        (
            "frame",
            Server(ServerMessage::Frame {
                frame_id: 7,
                rects: vec![
                    Rect {
                        encoding: Encoding::Solid,
                        x: 0,
                        y: 0,
                        width: 64,
                        height: 64,
                        data: vec![1, 2, 3, 255],
                    },
                    Rect {
                        encoding: Encoding::Copy,
                        x: 0,
                        y: 0,
                        width: 100,
                        height: 50,
                        data: vec![0, 0, 17, 0],
                    },
                    Rect {
                        encoding: Encoding::H264,
                        x: 2,
                        y: 4,
                        width: 6,
                        height: 8,
                        data: vec![1, 0, 0, 0, 1, 0x67],
                    },
                ],
            }),
            r#"{"type":"Frame","frame_id":7,"rects":[{"encoding":0,"x":0,"y":0,"width":64,"height":64,"data":[1,2,3,255]},{"encoding":1,"x":0,"y":0,"width":100,"height":50,"data":[0,0,17,0]},{"encoding":4,"x":2,"y":4,"width":6,"height":8,"data":[1,0,0,0,1,103]}]}"#,
        ),
        (
            "screen_size",
            Server(ServerMessage::ScreenSize {
                width: 800,
                height: 600,
            }),
            r#"{"type":"ScreenSize","width":800,"height":600}"#,
        ),
        (
            "cursor",
            Server(ServerMessage::Cursor {
                hot_x: 1,
                hot_y: 2,
                width: 3,
                height: 4,
                png: vec![0x89, 0x50],
            }),
            r#"{"type":"Cursor","hot_x":1,"hot_y":2,"width":3,"height":4,"png":[137,80]}"#,
        ),
        (
            "clipboard",
            Server(ServerMessage::Clipboard {
                text: "from X".into(),
            }),
            r#"{"type":"Clipboard","text":"from X"}"#,
        ),
        (
            "windows",
            Server(ServerMessage::Windows {
                windows: vec![WindowInfo {
                    id: 5,
                    x: -3,
                    y: 4,
                    width: 640,
                    height: 480,
                    focused: true,
                    title: "xterm".into(),
                }],
            }),
            r#"{"type":"Windows","windows":[{"id":5,"x":-3,"y":4,"width":640,"height":480,"focused":true,"title":"xterm"}]}"#,
        ),
        (
            "pong",
            Server(ServerMessage::Pong { timestamp: 99 }),
            r#"{"type":"Pong","timestamp":99}"#,
        ),
        (
            "goodbye",
            Server(ServerMessage::Goodbye {
                reason: "session ended".into(),
            }),
            r#"{"type":"Goodbye","reason":"session ended"}"#,
        ),
        (
            "notice",
            Server(ServerMessage::Notice {
                kind: NoticeKind::IdleDisconnect,
                seconds_left: 30,
                text: "idle ⏳".into(),
            }),
            r#"{"type":"Notice","kind":1,"seconds_left":30,"text":"idle ⏳"}"#,
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn render() -> String {
    let entries: Vec<String> = vectors()
        .into_iter()
        .map(|(name, msg, fields)| {
            let (direction, bytes) = match msg {
                Message::Client(m) => ("client", m.encode()),
                Message::Server(m) => ("server", m.encode()),
            };
            format!(
                "  {{\"name\": \"{name}\", \"direction\": \"{direction}\", \"hex\": \"{}\", \"message\": {fields}}}",
                hex(&bytes)
            )
        })
        .collect();
    format!("[\n{}\n]\n", entries.join(",\n"))
}

#[test]
fn encoders_match_the_golden_vectors() {
    let expected = render();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(vectors_path(), &expected).unwrap();
    }
    let on_disk = std::fs::read_to_string(vectors_path())
        .expect("vectors.json exists (UPDATE_VECTORS=1 writes it)");
    assert_eq!(
        on_disk, expected,
        "the protocol's bytes changed; if deliberate, bump docs and regenerate"
    );
}

#[test]
fn decoders_accept_the_golden_vectors() {
    for (name, msg, _) in vectors() {
        match msg {
            Message::Client(m) => assert_eq!(
                ClientMessage::decode(&m.encode()).as_ref(),
                Ok(&m),
                "{name}"
            ),
            Message::Server(m) => assert_eq!(
                ServerMessage::decode(&m.encode()).as_ref(),
                Ok(&m),
                "{name}"
            ),
        }
    }
}

#[test]
fn the_type_byte_says_whether_a_message_is_input_as_the_decoded_message_does() {
    let mut inputs = 0;
    for (name, msg, _) in vectors() {
        if let Message::Client(m) = msg {
            assert_eq!(
                porthole_protocol::is_input_message(&m.encode()),
                m.is_input(),
                "{name}"
            );
            inputs += usize::from(m.is_input());
        }
    }
    assert!(inputs >= 7, "the vectors cover every input message");
    assert!(!porthole_protocol::is_input_message(&[]));
}
