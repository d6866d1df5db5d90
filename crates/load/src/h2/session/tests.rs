use super::*;

const WINDOWS: Windows = Windows {
    stream: 1 << 20,
    connection: 1 << 24,
};

fn requests() -> Vec<Encoded> {
    let get = super::super::Request {
        method: "GET",
        path: "/",
        headers: &[],
        body: b"",
    };
    let post = super::super::Request {
        method: "POST",
        body: &[7; 100],
        ..get
    };
    super::super::encode(&[get, post], false, "h")
}

/// A frame as the server writes it.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

fn settings(values: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::settings(&mut out, values);
    out
}

/// Feeds `bytes` and returns the events they meant.
fn feed(s: &mut Session, bytes: &[u8]) -> Result<Vec<Event>, ConnError> {
    let mut events = Vec::new();
    s.feed(&requests(), bytes, &mut |e| events.push(e))?;
    Ok(events)
}

/// The frames written since the last call, as (type, flags, stream, payload).
fn written(s: &mut Session) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let bytes = s.unwritten().to_vec();
    s.wrote(bytes.len());
    let mut at = bytes
        .strip_prefix(frame::PREFACE)
        .map_or(0, |_| frame::PREFACE.len());
    let mut frames = Vec::new();
    while at < bytes.len() {
        let head = Head::read(bytes[at..at + frame::HEADER].try_into().unwrap());
        at += frame::HEADER;
        frames.push((
            head.kind,
            head.flags,
            head.stream,
            bytes[at..at + head.len].to_vec(),
        ));
        at += head.len;
    }
    frames
}

#[test]
fn opens_with_the_preface_its_settings_and_a_connection_window() {
    let mut s = Session::new(WINDOWS);
    assert!(s.unwritten().starts_with(frame::PREFACE));
    let frames = written(&mut s);
    assert_eq!(frames[0].0, frame::SETTINGS);
    // HEADER_TABLE_SIZE 0, ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 2^20.
    assert_eq!(
        frames[0].3,
        [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 16, 0, 0]
    );
    assert_eq!(
        frames[1],
        (
            frame::WINDOW_UPDATE,
            0,
            0,
            ((1u32 << 24) - 65_535).to_be_bytes().to_vec()
        )
    );
    assert!(!s.can_open(), "no stream before the server's SETTINGS");
}

#[test]
fn holds_streams_to_the_servers_limit_and_reads_answers_split_anywhere() {
    let mut s = Session::new(WINDOWS);
    written(&mut s);
    assert_eq!(
        feed(&mut s, &settings(&[(frame::MAX_CONCURRENT_STREAMS, 2)])),
        Ok(vec![])
    );
    assert_eq!(written(&mut s), [(frame::SETTINGS, frame::ACK, 0, vec![])]);
    assert_eq!(s.server().unwrap().max_concurrent_streams, Some(2));
    assert_eq!(s.open(&requests(), 0), 1);
    assert_eq!(s.open(&requests(), 0), 3);
    assert!(!s.can_open());
    let frames = written(&mut s);
    // The first request adds :authority to the server's table, the next names it.
    let flags = frame::END_STREAM | frame::END_HEADERS;
    let first = vec![0x82, 0x86, 0x41, 1, b'h', 0x84];
    assert_eq!(frames[0], (frame::HEADERS, flags, 1, first));
    let next = vec![0x82, 0x86, 0x80 | 62, 0x84];
    assert_eq!(frames[1], (frame::HEADERS, flags, 3, next));
    assert!(s.whole(1) && s.whole(3));
    // Stream 3 answered first, 404 then a DATA frame; stream 1 with a
    // literal 503, padded, fed one byte at a time.
    let mut bytes = frame(frame::HEADERS, frame::END_HEADERS, 3, &[0x8d]);
    bytes.extend(frame(frame::DATA, frame::END_STREAM, 3, b"nope"));
    bytes.extend(frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM | frame::PADDED,
        1,
        &[2, 0x08, 3, b'5', b'0', b'3', 0, 0],
    ));
    let mut events = Vec::new();
    for byte in &bytes {
        events.extend(feed(&mut s, std::slice::from_ref(byte)).unwrap());
    }
    assert_eq!(
        events,
        [
            Event::Answered {
                stream: 3,
                status: 404
            },
            Event::Answered {
                stream: 1,
                status: 503
            },
        ]
    );
    assert!(s.can_open());
}

#[test]
fn reports_resets_and_goaway_and_opens_nothing_after_it() {
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[])).unwrap();
    for _ in 0..3 {
        s.open(&requests(), 0);
    }
    let mut bytes = frame(frame::RST_STREAM, 0, 3, &7u32.to_be_bytes());
    bytes.extend(frame(frame::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    assert_eq!(
        feed(&mut s, &bytes).unwrap(),
        [
            Event::Reset { stream: 3, code: 7 },
            Event::GoAway { last: 1, code: 0 },
        ]
    );
    assert!(!s.can_open() && s.closing());
}

#[test]
fn sends_a_body_only_as_far_as_the_servers_windows_allow() {
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[(frame::INITIAL_WINDOW_SIZE, 40)])).unwrap();
    written(&mut s);
    let id = s.open(&requests(), 1);
    let frames = written(&mut s);
    assert_eq!(frames[0].0, frame::HEADERS);
    assert_eq!(frames[0].1, frame::END_HEADERS, "the body follows");
    assert_eq!(
        (frames[1].0, frames[1].1, frames[1].3.len()),
        (frame::DATA, 0, 40)
    );
    assert!(s.stalled(id) && !s.whole(id));
    feed(
        &mut s,
        &frame(frame::WINDOW_UPDATE, 0, id, &100u32.to_be_bytes()),
    )
    .unwrap();
    let frames = written(&mut s);
    assert_eq!(
        (frames[0].0, frames[0].1, frames[0].3.len()),
        (frame::DATA, frame::END_STREAM, 60)
    );
    assert!(!s.stalled(id) && s.whole(id));
}

#[test]
fn raises_windows_as_answers_use_them() {
    let small = Windows {
        stream: 100,
        connection: 65_535,
    };
    let mut s = Session::new(small);
    feed(&mut s, &settings(&[])).unwrap();
    written(&mut s);
    let id = s.open(&requests(), 0);
    written(&mut s);
    let mut bytes = frame(frame::HEADERS, frame::END_HEADERS, id, &[0x88]);
    bytes.extend(frame(frame::DATA, 0, id, &[0; 60]));
    feed(&mut s, &bytes).unwrap();
    assert_eq!(
        written(&mut s),
        [(frame::WINDOW_UPDATE, 0, id, 60u32.to_be_bytes().to_vec())]
    );
    // A PING is answered with its payload.
    feed(&mut s, &frame(frame::PING, 0, 0, b"12345678")).unwrap();
    assert_eq!(
        written(&mut s),
        [(frame::PING, frame::ACK, 0, b"12345678".to_vec())]
    );
}

#[test]
fn refuses_what_breaks_the_protocol() {
    let broken: [(&[u8], &str); 4] = [
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            "the server answered in HTTP/1.1: it does not speak HTTP/2 here",
        ),
        (
            &frame(frame::PING, 0, 0, b"12345678"),
            "the server's first frame was not SETTINGS",
        ),
        (
            &[0, 0x40, 1, frame::DATA, 0, 0, 0, 0, 1],
            "a frame larger than SETTINGS_MAX_FRAME_SIZE",
        ),
        (
            &frame(frame::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            "SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1",
        ),
    ];
    for (bytes, why) in broken {
        let mut s = Session::new(WINDOWS);
        assert_eq!(feed(&mut s, bytes).unwrap_err().why, why);
    }
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[])).unwrap();
    let id = s.open(&requests(), 0);
    let error = feed(
        &mut s,
        &frame(frame::HEADERS, frame::END_HEADERS, id, &[0xc0]),
    )
    .unwrap_err();
    assert_eq!(error.code, frame::COMPRESSION_ERROR);
    let push = frame(
        frame::PUSH_PROMISE,
        frame::END_HEADERS,
        id,
        &[0, 0, 0, 2, 0x82],
    );
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[])).unwrap();
    s.open(&requests(), 0);
    assert_eq!(feed(&mut s, &push).unwrap_err().code, frame::PROTOCOL_ERROR);
}

#[test]
fn a_server_table_too_small_for_the_shared_fields_gets_them_plain_and_told() {
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[])).unwrap();
    written(&mut s);
    s.open(&requests(), 0);
    // The table shrinks below the entry (1 + 10 + 32 bytes): announced at
    // the next block's start, and the fields sent plain from then on.
    feed(&mut s, &settings(&[(frame::HEADER_TABLE_SIZE, 40)])).unwrap();
    s.open(&requests(), 0);
    s.open(&requests(), 0);
    let blocks: Vec<Vec<u8>> = written(&mut s)
        .into_iter()
        .filter(|f| f.0 == frame::HEADERS)
        .map(|f| f.3)
        .collect();
    assert_eq!(blocks[1], [0x3f, 0x09, 0x82, 0x86, 0x01, 1, b'h', 0x84]);
    assert_eq!(blocks[2], [0x82, 0x86, 0x01, 1, b'h', 0x84]);
    // A server whose table is 0 from the start never sees an index.
    let mut s = Session::new(WINDOWS);
    feed(&mut s, &settings(&[(frame::HEADER_TABLE_SIZE, 0)])).unwrap();
    written(&mut s);
    s.open(&requests(), 0);
    let frames = written(&mut s);
    assert_eq!(frames[0].3, [0x20, 0x82, 0x86, 0x01, 1, b'h', 0x84]);
}
