//! The decoders must never panic, whatever bytes arrive, and every message must
//! survive an encode/decode round trip.

use porthole_protocol::{
    ClientMessage, DecodeError, Encoding, NoticeKind, Rect, ServerMessage, WindowInfo,
};
use proptest::prelude::*;

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(
            |(version, width, height, codecs)| ClientMessage::Hello {
                version,
                width,
                height,
                codecs
            }
        ),
        any::<u32>().prop_map(|frame_id| ClientMessage::FrameAck { frame_id }),
        (any::<u16>(), any::<u16>()).prop_map(|(x, y)| ClientMessage::PointerMove { x, y }),
        (any::<u8>(), any::<bool>(), any::<u16>(), any::<u16>()).prop_map(
            |(button, pressed, x, y)| ClientMessage::PointerButton {
                button,
                pressed,
                x,
                y
            }
        ),
        (any::<i16>(), any::<i16>()).prop_map(|(dx, dy)| ClientMessage::Wheel { dx, dy }),
        (any::<bool>(), ".{0,12}", ".{0,4}").prop_map(|(pressed, code, key)| ClientMessage::Key {
            pressed,
            code,
            key
        }),
        ".{0,40}".prop_map(|text| ClientMessage::Text { text }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(width, height)| ClientMessage::Resize { width, height }),
        ".{0,40}".prop_map(|text| ClientMessage::ClipboardSet { text }),
        Just(ClientMessage::ReleaseAll),
        any::<u32>().prop_map(|timestamp| ClientMessage::Ping { timestamp }),
        Just(ClientMessage::RefreshRequest),
        any::<u32>().prop_map(|window| ClientMessage::FocusWindow { window }),
    ]
}

fn rect() -> impl Strategy<Value = Rect> {
    (
        0u8..6,
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(e, x, y, width, height, data)| {
            let encoding = [
                Encoding::Solid,
                Encoding::Copy,
                Encoding::Png,
                Encoding::Jpeg,
                Encoding::H264,
                Encoding::Webp,
            ][usize::from(e)];
            Rect {
                encoding,
                x,
                y,
                width,
                height,
                data,
            }
        })
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (any::<u16>(), ".{0,20}")
            .prop_map(|(version, session)| ServerMessage::ServerHello { version, session }),
        (any::<u32>(), proptest::collection::vec(rect(), 0..5))
            .prop_map(|(frame_id, rects)| ServerMessage::Frame { frame_id, rects }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(width, height)| ServerMessage::ScreenSize { width, height }),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(hot_x, hot_y, width, height, png)| ServerMessage::Cursor {
                hot_x,
                hot_y,
                width,
                height,
                png
            }),
        ".{0,40}".prop_map(|text| ServerMessage::Clipboard { text }),
        proptest::collection::vec(
            (
                any::<u32>(),
                any::<i16>(),
                any::<i16>(),
                any::<u16>(),
                any::<u16>(),
                any::<bool>(),
                ".{0,12}"
            )
                .prop_map(|(id, x, y, width, height, focused, title)| WindowInfo {
                    id,
                    x,
                    y,
                    width,
                    height,
                    focused,
                    title
                }),
            0..4
        )
        .prop_map(|windows| ServerMessage::Windows { windows }),
        any::<u32>().prop_map(|timestamp| ServerMessage::Pong { timestamp }),
        ".{0,20}".prop_map(|reason| ServerMessage::Goodbye { reason }),
        (
            prop_oneof![
                Just(NoticeKind::SessionEnding),
                Just(NoticeKind::IdleDisconnect),
                Just(NoticeKind::Disconnected),
                Just(NoticeKind::HomeFolderFull),
                Just(NoticeKind::SessionScriptFailed)
            ],
            any::<u32>(),
            ".{0,40}"
        )
            .prop_map(|(kind, seconds_left, text)| ServerMessage::Notice {
                kind,
                seconds_left,
                text
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn client_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = ClientMessage::decode(&bytes);
    }

    #[test]
    fn server_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = ServerMessage::decode(&bytes);
    }

    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        prop_assert_eq!(ClientMessage::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        prop_assert_eq!(ServerMessage::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_an_error(msg in client_message()) {
        let bytes = msg.encode();
        for cut in 0..bytes.len() {
            prop_assert!(ClientMessage::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn every_truncation_of_a_valid_server_message_is_an_error(msg in server_message()) {
        let bytes = msg.encode();
        for cut in 0..bytes.len() {
            prop_assert!(ServerMessage::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(msg in server_message(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = msg.encode();
        if !bytes.is_empty() {
            let i = pos.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = ServerMessage::decode(&bytes);
    }
}

#[test]
fn malformed_inputs_name_their_fault() {
    assert_eq!(
        ClientMessage::decode(&[]),
        Err(DecodeError::Truncated { needed: 1 })
    );
    assert_eq!(
        ClientMessage::decode(&[0x7f]),
        Err(DecodeError::UnknownType(0x7f))
    );
    assert_eq!(
        ClientMessage::decode(&[0x0A, 0]),
        Err(DecodeError::TrailingBytes(1))
    );
    assert_eq!(
        ClientMessage::decode(&[0x04, 1, 2, 0, 0, 0, 0]),
        Err(DecodeError::InvalidBool(2))
    );
    assert_eq!(
        ClientMessage::decode(&[0x07, 2, 0, 0, 0, 0xff, 0xfe]),
        Err(DecodeError::InvalidUtf8)
    );
    // A string length far beyond the message is a truncation, not an allocation.
    assert_eq!(
        ClientMessage::decode(&[0x07, 0xff, 0xff, 0xff, 0xff]),
        Err(DecodeError::Truncated {
            needed: 0xffff_ffff
        })
    );
    // A Notice of a kind this version does not know.
    assert_eq!(
        ServerMessage::decode(&[0x88, 5, 30, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::UnknownNoticeKind(5))
    );
    let oversized = vec![0x07; porthole_protocol::MAX_CLIENT_MESSAGE + 1];
    assert!(matches!(
        ClientMessage::decode(&oversized),
        Err(DecodeError::TooLarge(_))
    ));
}
