//! Damaged files: truncated at every byte, one byte flipped anywhere inside a block, wrong
//! magic, future versions, lying lengths. Never a panic, never a hang, never an allocation the
//! file size does not justify; every complete block reads back and every loss is reported.

mod common;
use common::*;
use hidpack_core::frame::{walk_zstd_frame, HIDPACK_SKIPPABLE};
use hidpack_core::reader::{Layout, ALL_KINDS};
use hidpack_core::{Error, Reader, WriterOptions};

fn small_file() -> (Vec<u8>, Vec<(i64, hidpack_core::Event)>) {
    let events = sample_events(120);
    let bytes = write_events(&events, WriterOptions { block_events: 25, ..Default::default() });
    (bytes, events)
}

#[test]
fn complete_file_reads_back() {
    let (bytes, events) = small_file();
    let (got, r) = read_all(bytes);
    assert_eq!(got, events);
    assert_eq!(r.layout(), Layout::Index);
    assert_eq!(r.blocks().len(), 5);
    assert!(r.problems().is_empty());
    assert!(r.verify().ok);
}

#[test]
fn truncated_at_every_byte_yields_every_complete_block() {
    let (bytes, events) = small_file();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let ends: Vec<(u64, u32)> = r.blocks().iter().map(|b| (b.offset + u64::from(b.length), b.events)).collect();
    let spans: Vec<(u64, u64)> = r.blocks().iter().map(|b| (b.offset, b.offset + u64::from(b.length))).collect();
    let header_end = r.blocks()[0].offset;
    for cut in 0..bytes.len() {
        let part = bytes[..cut].to_vec();
        match Reader::from_source(part) {
            Err(e) => {
                assert!((cut as u64) < header_end, "cut {cut}: open failed past the header: {e}");
                assert!(matches!(e, Error::Format { .. } | Error::Truncated { .. }), "cut {cut}: {e}");
            }
            Ok(r) => {
                let t = r.read(None, None, ALL_KINDS, None).unwrap();
                // Every block whose data frame is complete is there; nothing else.
                let expect: u32 = ends.iter().filter(|(end, _)| *end <= cut as u64).map(|(_, n)| n).sum();
                assert_eq!(t.len() as u32, expect, "cut at {cut}");
                let got: Vec<_> = t.events().collect();
                assert_eq!(got[..], events[..expect as usize], "cut at {cut}");
                // A cut inside a block is reported with its offset.
                let c = cut as u64;
                let in_block = spans.iter().any(|(s, e)| *s < c && c < *e);
                if in_block {
                    assert!(!r.problems().is_empty(), "cut at {cut} inside a block must be reported");
                }
            }
        }
    }
}

#[test]
fn one_flipped_byte_in_a_block_loses_only_that_block() {
    let (bytes, events) = small_file();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let blocks = r.blocks().to_vec();
    for (bi, b) in blocks.iter().enumerate() {
        for at in b.offset..b.offset + u64::from(b.length) {
            for mask in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[at as usize] ^= mask;
                let r = Reader::from_source(bad).expect("open with a damaged block");
                let t = r.read(None, None, ALL_KINDS, None).unwrap();
                let got: Vec<_> = t.events().collect();
                let start = b.first_event as usize;
                let end = start + b.events as usize;
                let mut expect = events[..start].to_vec();
                expect.extend_from_slice(&events[end..]);
                assert_eq!(got, expect, "flip {mask:#x} at {at} (block {bi})");
                let p = r.problems();
                assert_eq!(p.len(), 1, "flip at {at}: {p:?}");
                assert_eq!(p[0].offset, b.offset);
                assert_eq!(p[0].events_lost, Some(u64::from(b.events)));
            }
        }
    }
}

#[test]
fn damaged_blocks_read_on_threads_lose_and_report_the_same() {
    let (bytes, events) = small_file();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let blocks = r.blocks().to_vec();
    // blocks 1 and 3 damaged: the rest reads back in order, the two are reported in file order
    let mut bad = bytes.clone();
    for b in [&blocks[1], &blocks[3]] {
        bad[(b.offset + u64::from(b.length) / 2) as usize] ^= 0x40;
    }
    let mut expect = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if i != 1 && i != 3 {
            expect.extend_from_slice(&events[b.first_event as usize..(b.first_event + u64::from(b.events)) as usize]);
        }
    }
    for threads in [1, 2, 4, 16] {
        let r = Reader::from_source(bad.clone()).unwrap();
        let got: Vec<_> = r.read_threads(None, None, ALL_KINDS, None, threads).unwrap().events().collect();
        assert_eq!(got, expect, "threads {threads}");
        let p = r.problems();
        let offsets: Vec<u64> = p.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, vec![blocks[1].offset, blocks[3].offset], "threads {threads}: {p:?}");
        let r = Reader::from_source(bad.clone()).unwrap();
        let parts = r.read_parts(None, None, ALL_KINDS, None, threads).unwrap();
        assert_eq!(parts.len(), blocks.len() - 2);
        let got: Vec<_> = parts.iter().flat_map(|p| p.events().collect::<Vec<_>>()).collect();
        assert_eq!(got, expect, "parts, threads {threads}");
        assert_eq!(r.problems().len(), 2);
    }
}

#[test]
fn flipped_byte_in_a_torn_file_is_skipped_too() {
    // No footer (writer killed) and a damaged block: the scan finds the other blocks.
    let (bytes, events) = small_file();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let b1 = r.blocks()[1].clone();
    let last = r.blocks().last().unwrap().clone();
    let mut torn = bytes[..(last.offset + u64::from(last.length)) as usize].to_vec();
    torn[(b1.offset + u64::from(b1.length) / 2) as usize] ^= 0x10;
    let r = Reader::from_source(torn).unwrap();
    assert_eq!(r.layout(), Layout::Scanned);
    let got: Vec<_> = r.read(None, None, ALL_KINDS, None).unwrap().events().collect();
    let mut expect = events[..b1.first_event as usize].to_vec();
    expect.extend_from_slice(&events[(b1.first_event + u64::from(b1.events)) as usize..]);
    assert_eq!(got, expect);
    assert!(!r.problems().is_empty());
}

#[test]
fn wrong_magic_is_a_format_error_with_offset() {
    let (mut bytes, _) = small_file();
    bytes[0] ^= 0xFF;
    match Reader::from_source(bytes) {
        Err(Error::Format { offset: 0, msg }) => assert!(msg.contains("not a hidpack file"), "{msg}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a file with a wrong magic"),
    }
    // A plain zstd stream is not a hidpack file either.
    let z = zstd::bulk::compress(b"hello", 3).unwrap();
    assert!(matches!(Reader::from_source(z), Err(Error::Format { offset: 0, .. })));
}

/// Rebuild the header record with changed fields and a valid checksum.
fn with_header(bytes: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let size = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let mut body = bytes[8..8 + size - 4].to_vec();
    edit(&mut body);
    let mut out = hidpack_core::frame::skippable_record(&body);
    out.extend_from_slice(&bytes[8 + size..]);
    out
}

#[test]
fn future_major_version_is_refused_clearly() {
    let (bytes, _) = small_file();
    let bad = with_header(&bytes, |b| b[4..6].copy_from_slice(&2u16.to_le_bytes()));
    match Reader::from_source(bad) {
        Err(Error::UnsupportedVersion { found, supported: 1, .. }) => assert!(found.starts_with("2."), "{found}"),
        other => panic!("expected UnsupportedVersion, got {:?}", other.err()),
    }
    let bad = with_header(&bytes, |b| b[8] |= 0x10); // an unknown required feature bit (0 BINNED, 1 PREDICTED, 2 BINNED_1_3, 3 CLOCK_SPARSE)
    assert!(matches!(Reader::from_source(bad), Err(Error::UnsupportedVersion { .. })));
}

#[test]
fn future_minor_version_with_trailing_header_fields_is_read() {
    let events = sample_events(40);
    let mut header = hidpack_core::frame::Header::new("{\"k\":1}".into(), Some(5));
    header.minor = 7;
    header.extra = vec![1, 2, 3, 4, 5];
    let mut w = hidpack_core::Writer::with_header(Vec::new(), WriterOptions { block_events: 9, ..Default::default() }, header).unwrap();
    for (t, e) in &events {
        w.push(*t, e).unwrap();
    }
    let (got, r) = read_all(w.into_inner().unwrap());
    assert_eq!(got, events);
    assert_eq!(r.header().minor, 7);
    assert_eq!(r.header().extra, vec![1, 2, 3, 4, 5]);
}

#[test]
fn lying_lengths_do_not_allocate_or_panic() {
    let (bytes, events) = small_file();
    // Header record claiming 4 GiB.
    let mut bad = bytes.clone();
    bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Reader::from_source(bad).is_err());
    // Seek table claiming 2^32-1 frames: footer is ignored, the scan still reads everything.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 9..n - 5].copy_from_slice(&u32::MAX.to_le_bytes());
    let (got, r) = read_all(bad);
    assert_eq!(got, events);
    assert_eq!(r.layout(), Layout::Scanned);
    // Every 4-byte window of the file set to 0xFFFFFFFF, one at a time: no panic, no hang.
    for at in (0..bytes.len() - 4).step_by(3) {
        let mut bad = bytes.clone();
        bad[at..at + 4].copy_from_slice(&[0xFF; 4]);
        if let Ok(r) = Reader::from_source(bad) {
            let _ = r.read(None, None, ALL_KINDS, None).unwrap();
            let _ = r.verify();
        }
    }
}

#[test]
fn frame_walker_agrees_with_zstd() {
    for len in [0usize, 1, 100, 70_000, 300_000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true)).unwrap();
        let f = c.compress(&data).unwrap();
        let info = walk_zstd_frame(&f, 0).unwrap();
        assert_eq!(info.len as usize, f.len());
        assert_eq!(info.content_size, Some(len as u64));
        assert!(info.has_checksum);
        assert!(matches!(walk_zstd_frame(&f[..f.len() - 1], 0), Err(Error::Truncated { .. })));
    }
    assert_eq!(HIDPACK_SKIPPABLE & 0xFFFF_FFF0, 0x184D_2A50);
}

#[test]
fn dictionary_bomb_is_refused_not_allocated() {
    use hidpack_core::bytes::{put_varint, zigzag};
    // 2^20 focus events all pointing at one 4 KiB title: 4 GiB if decoded; a few KiB on disk.
    let n: u64 = 1 << 20;
    let mut seg = Vec::new();
    put_varint(&mut seg, n);
    for (id, v) in [(0xF0u8, 0i64), (0xF1, 6)] {
        seg.extend_from_slice(&[id, 0]);
        let mut b = Vec::new();
        put_varint(&mut b, zigzag(v));
        put_varint(&mut seg, b.len() as u64);
        seg.extend(b);
    }
    put_varint(&mut seg, 1);
    let mut chunk = Vec::new();
    put_varint(&mut chunk, 1);
    put_varint(&mut chunk, 4096);
    chunk.extend(std::iter::repeat_n(b'A', 4096));
    chunk.extend(std::iter::repeat_n(0u8, n as usize));
    let mut g = vec![11u8, 17];
    put_varint(&mut g, chunk.len() as u64);
    g.extend(chunk);
    seg.push(6);
    put_varint(&mut seg, g.len() as u64);
    seg.extend(g);
    let mut payload = Vec::new();
    put_varint(&mut payload, seg.len() as u64);
    payload.extend(seg);
    let mut counts = [0u32; 9];
    counts[6] = n as u32;
    let mut w = hidpack_core::Writer::new(Vec::new(), WriterOptions::default()).unwrap();
    w.write_raw_block(&payload, n as u32, (0, 0), counts).unwrap();
    let bytes = w.into_inner().unwrap();
    assert!(bytes.len() < 8192, "{}", bytes.len());
    let r = Reader::from_source(bytes).unwrap();
    let t = r.read(None, None, ALL_KINDS, None).unwrap();
    assert_eq!(t.len(), 0);
    let p = r.problems();
    assert_eq!(p.len(), 1);
    assert!(p[0].error.contains("limit"), "{}", p[0].error);
}

#[test]
fn scanning_many_small_blocks_finds_them_all() {
    // 20k one-event blocks, no footer (the frame walk reads one header per zstd block).
    let events = sample_events(20_000);
    let bytes = write_events(&events, WriterOptions { block_events: 1, ..Default::default() });
    let r = Reader::from_source(bytes.clone()).unwrap();
    let last = r.blocks().last().unwrap().clone();
    let torn = bytes[..(last.offset + u64::from(last.length)) as usize].to_vec();
    let (got, r) = read_all(torn);
    assert_eq!(r.layout(), Layout::Scanned);
    assert!(r.footer_error().is_some());
    assert_eq!(got, events);
}

/// The record tag at `at`, if a hidpack record starts there.
fn tag_at(bytes: &[u8], at: u64) -> Option<&[u8]> {
    let b = bytes.get(at as usize..at as usize + 12)?;
    (b[..4] == HIDPACK_SKIPPABLE.to_le_bytes()).then(|| &b[8..12])
}

/// Tags after each block's data frame.
fn tags_after_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let r = Reader::from_source(bytes.to_vec()).unwrap();
    r.blocks().iter().map(|b| tag_at(bytes, b.offset + u64::from(b.length)).unwrap_or(b"none").to_vec()).collect()
}

#[test]
fn the_last_trailer_is_left_out_only_where_format_1_2_says() {
    // FORMAT §4.6: minor 2 leaves out the trailer of the block closed by `close`, the index right
    // after its frame; minor 1 (and 1.0) write a trailer after every block; a block closed before
    // the file keeps its trailer.
    let events = sample_events(120);
    let t = |s: &str| s.as_bytes().to_vec();
    let v12 = write_events(&events, WriterOptions { block_events: 25, minor: 2, ..Default::default() });
    assert_eq!(&v12[12..16], &[1, 0, 2, 0]);
    let v13 = write_events(&events, WriterOptions { block_events: 25, ..Default::default() });
    assert_eq!(&v13[12..16], &[1, 0, 4, 0]); // 1.3 and 1.4 keep the 1.2 layout
    assert_eq!(tags_after_blocks(&v13), tags_after_blocks(&v12));
    assert_eq!(tags_after_blocks(&v12), vec![t("HPKT"), t("HPKT"), t("HPKT"), t("HPKT"), t("HPKX")]);
    let v11 = write_events(&events, WriterOptions { block_events: 25, minor: 1, ..Default::default() });
    assert_eq!(&v11[12..16], &[1, 0, 1, 0]);
    assert_eq!(tags_after_blocks(&v11), vec![t("HPKT"); 5]);
    let v10 = write_events(&events, WriterOptions { block_events: 25, binned: false, ..Default::default() });
    assert_eq!(&v10[12..16], &[1, 0, 0, 0]);
    assert_eq!(tags_after_blocks(&v10), vec![t("HPKB"); 5]);
    // 120 events in blocks of 24: the last block is full and closed before the file is
    let flushed = write_events(&events, WriterOptions { block_events: 24, ..Default::default() });
    assert_eq!(tags_after_blocks(&flushed).last().unwrap(), &t("HPKX"));
    let mut w = hidpack_core::Writer::new(Vec::new(), WriterOptions { block_events: 25, ..Default::default() }).unwrap();
    for (ts, e) in &events {
        w.push(*ts, e).unwrap();
    }
    w.flush().unwrap();
    let kept = w.into_inner().unwrap();
    assert_eq!(tags_after_blocks(&kept), vec![t("HPKT"); 5]);
    // what 1.2 saves: one trailer and its seek-table entry
    assert_eq!(kept.len() - v12.len(), v11.len() - v12.len());
    for b in [v12, v11, kept] {
        let (got, r) = read_all(b);
        assert_eq!(got, events);
        assert!(r.verify().ok);
    }
}

#[test]
fn without_its_seek_table_a_1_2_file_takes_the_last_blocks_info_from_the_index() {
    // FORMAT §4.6 / §7.3: the scan path meets the last data frame with no trailer, then the index;
    // the index's last entry is that block's info (its hash checked, its events counted if lost).
    let (bytes, events) = small_file();
    let r = Reader::from_source(bytes.clone()).unwrap();
    let infos = r.blocks().to_vec();
    let last = infos.last().unwrap().clone();
    let index_at = last.offset + u64::from(last.length);
    assert_eq!(tag_at(&bytes, index_at), Some(&b"HPKX"[..]));
    let index_len = 8 + u64::from(u32::from_le_bytes(bytes[index_at as usize + 4..index_at as usize + 8].try_into().unwrap()));
    let cut = bytes[..(index_at + index_len) as usize].to_vec();
    let r = Reader::from_source(cut.clone()).unwrap();
    assert_eq!(r.layout(), Layout::Scanned);
    assert_eq!(r.blocks(), &infos[..], "every block's info, the last one's from the index");
    assert!(r.verify().ok);
    assert_eq!(read_all(cut.clone()).0, events);
    // a damaged last frame: skipped, and its events are known lost
    let mut bad = cut;
    bad[(last.offset + u64::from(last.length) / 2) as usize] ^= 0x04;
    let r = Reader::from_source(bad).unwrap();
    let got: Vec<_> = r.read(None, None, ALL_KINDS, None).unwrap().events().collect();
    assert_eq!(got, events[..last.first_event as usize]);
    let p = r.problems();
    assert_eq!((p.len(), p[0].offset, p[0].events_lost), (1, last.offset, Some(u64::from(last.events))), "{p:?}");
    // cut before the index (a writer killed before writing it): the last frame is decoded
    let r = Reader::from_source(bytes[..index_at as usize].to_vec()).unwrap();
    assert_eq!(r.blocks().len(), infos.len());
    assert_eq!(r.blocks().last().unwrap().hash, 0, "resolved by decoding: no hash known");
}
