//! The cases of the differential test: frames as generated ([`Spec`]), the faults applied to
//! them, and the proptest strategies that make whole sequences ([`case`]).

use proptest::prelude::*;

/// The frame limit of both decoders (bytes of payload).
pub(crate) const MAX_FRAME: usize = 300;
/// The message limit of both decoders.
pub(crate) const MAX_MESSAGE: usize = 400;

/// One frame, as generated; `encode` writes its bytes.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) fin: bool,
    pub(crate) rsv: u8,
    pub(crate) opcode: u8,
    pub(crate) mask: Option<[u8; 4]>,
    /// 0: minimal, 1: at least the 16-bit form, 2: the 64-bit form.
    pub(crate) len_form: u8,
    /// Set the top bit of a 64-bit length (and send no payload).
    pub(crate) msb: bool,
    pub(crate) payload: Vec<u8>,
}

impl Spec {
    pub(crate) fn new(
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
        mask: [u8; 4],
        len_form: u8,
    ) -> Spec {
        Spec {
            fin,
            rsv: 0,
            opcode,
            mask: Some(mask),
            len_form,
            msb: false,
            payload,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 0x0F));
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload.len();
        if self.msb {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(1u64 << 63 | len as u64).to_be_bytes());
        } else if len < 126 && self.len_form == 0 {
            out.push(mask_bit | len as u8);
        } else if len < 65536 && self.len_form <= 1 {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
            out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(&self.payload);
        }
    }
}

/// A fault applied to one generated frame.
#[derive(Debug, Clone)]
enum Fault {
    Rsv(u8),
    ReservedOpcode(u8),
    Unmasked,
    FlipFin,
    /// Becomes a continuation, a text or a binary frame (fragment order faults).
    Opcode(u8),
    /// Its payload grows past the frame limit (only 40 bytes of it are sent: both decoders
    /// refuse on the header).
    Oversize(usize),
    Msb,
    /// Bytes that are not UTF-8, put at this position of the payload.
    BadUtf8(usize, Vec<u8>),
}

fn apply(spec: &mut Spec, fault: &Fault) {
    match fault {
        Fault::Rsv(bits) => spec.rsv = *bits,
        Fault::ReservedOpcode(op) => spec.opcode = *op,
        Fault::Unmasked => spec.mask = None,
        Fault::FlipFin => spec.fin = !spec.fin,
        Fault::Opcode(op) => spec.opcode = *op,
        Fault::Oversize(extra) => {
            // Declared over the limit; the rest of the payload never needs to come.
            spec.payload.resize(MAX_FRAME + extra, b'z');
        }
        Fault::Msb => {
            spec.msb = true;
            spec.payload.clear();
        }
        Fault::BadUtf8(at, bytes) => {
            let at = at % (spec.payload.len() + 1);
            spec.payload.splice(at..at, bytes.iter().copied());
        }
    }
}

/// Text with one-, two-, three- and four-byte characters.
fn text() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => prop::char::range('a', 'z'),
        1 => Just('é'),
        1 => Just('€'),
        1 => Just('𝄞'),
        1 => Just(' '),
    ];
    prop::collection::vec(chars, 0..160).prop_map(|v| v.into_iter().collect())
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..10),
        prop::collection::vec(any::<u8>(), 120..132),
        prop::collection::vec(any::<u8>(), 240..300),
        // Over the message limit when fragmented (else over the frame limit).
        prop::collection::vec(any::<u8>(), 380..460),
    ]
}

/// A close frame's payload: empty, one byte, or a code (of every class) and a reason.
fn close_payload() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1002),
        Just(1003),
        Just(1007),
        Just(1008),
        Just(1009),
        Just(1010),
        Just(1011),
        Just(1012),
        Just(1013),
        Just(1014),
        Just(3000),
        Just(3999),
        Just(4000),
        Just(4999),
        // Not valid on the wire.
        Just(0),
        Just(999),
        Just(1004),
        Just(1005),
        Just(1006),
        Just(1015),
        Just(1016),
        Just(2999),
        Just(5000),
        Just(65535),
        any::<u16>(),
    ];
    let reason = prop_oneof![
        3 => "[a-z é€]{0,40}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..20),
        1 => Just(vec![b'x'; 123]),
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        1 => any::<u8>().prop_map(|b| vec![b]),
        6 => (code, reason).prop_map(|(c, r)| {
            let mut p = c.to_be_bytes().to_vec();
            p.extend(r);
            p
        }),
    ]
}

/// One unit of a sequence: a message (maybe fragmented, control frames between its
/// fragments) or a control frame.
fn unit() -> impl Strategy<Value = Vec<Spec>> {
    let mask = any::<[u8; 4]>();
    let form = prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    // Non-minimal lengths on control frames are refused (difference 5): rarely, so that the
    // frames after them are reached.
    let ctl_form = prop_oneof![30 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    let data = prop_oneof![
        text().prop_map(|t| (0x1u8, t.into_bytes())),
        binary().prop_map(|b| (0x2u8, b)),
    ];
    let control = (
        prop_oneof![Just(0x9u8), Just(0xA)],
        prop::collection::vec(any::<u8>(), 0..126),
    );
    prop_oneof![
        4 => (data, prop::collection::vec(any::<usize>(), 0..4), prop::collection::vec(control.clone(), 0..3), mask, form.clone())
            .prop_map(|((op, payload), cuts, controls, mask, form)| fragments(op, &payload, &cuts, &controls, mask, form)),
        2 => (control, mask, ctl_form.clone()).prop_map(|((op, p), mask, form)| vec![Spec::new(true, op, p, mask, form)]),
        1 => (close_payload(), mask, ctl_form).prop_map(|(p, mask, form)| vec![Spec::new(true, 0x8, p, mask, form)]),
    ]
}

/// `payload` sent as one message in `cuts.len() + 1` fragments, `controls` between them.
fn fragments(
    opcode: u8,
    payload: &[u8],
    cuts: &[usize],
    controls: &[(u8, Vec<u8>)],
    mask: [u8; 4],
    form: u8,
) -> Vec<Spec> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    at.sort_unstable();
    let mut bounds = vec![0];
    bounds.extend(at);
    bounds.push(payload.len());
    let pieces = bounds.windows(2).count();
    let mut specs = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        let op = if i == 0 { opcode } else { 0x0 };
        let piece = payload.get(w[0]..w[1]).unwrap_or_default().to_vec();
        specs.push(Spec::new(i + 1 == pieces, op, piece, mask, form));
        if let Some((op, p)) = controls.get(i).filter(|_| i + 1 < pieces) {
            specs.push(Spec::new(true, *op, p.clone(), mask, 0));
        }
    }
    specs
}

fn fault() -> impl Strategy<Value = Fault> {
    let bad_utf8 = prop_oneof![
        Just(vec![0xFF]),
        Just(vec![0xC0, 0x80]),
        Just(vec![0xED, 0xA0, 0x80]),
        Just(vec![0xF4, 0x90, 0x80, 0x80]),
        Just(vec![0xE2, 0x82]),
        Just(vec![0xF0, 0x9F]),
        Just(vec![0x80]),
    ];
    prop_oneof![
        (1u8..8).prop_map(Fault::Rsv),
        prop_oneof![3u8..8, 0xBu8..0x10].prop_map(Fault::ReservedOpcode),
        Just(Fault::Unmasked),
        Just(Fault::FlipFin),
        prop_oneof![Just(0x0u8), Just(0x1), Just(0x2)].prop_map(Fault::Opcode),
        (1usize..40).prop_map(Fault::Oversize),
        Just(Fault::Msb),
        (any::<usize>(), bad_utf8).prop_map(|(at, b)| Fault::BadUtf8(at, b)),
    ]
}

/// A whole case: the frames' bytes and the read sizes to cut them into.
pub(crate) fn case() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let units = prop::collection::vec(unit(), 1..6);
    let faults = prop::collection::vec((any::<usize>(), fault()), 0..3);
    let reads = prop::collection::vec(1usize..64, 1..16);
    (units, faults, reads).prop_map(|(units, faults, reads)| {
        let mut specs: Vec<Spec> = units.into_iter().flatten().collect();
        for (i, f) in &faults {
            let n = specs.len();
            if let Some(spec) = specs.get_mut(i % n) {
                apply(spec, f);
            }
        }
        let mut bytes = Vec::new();
        for s in &specs {
            if matches!(s.opcode, 0x0..=0x2) && s.payload.len() > MAX_FRAME {
                // An oversized frame: its head and a little of its payload.
                let mut whole = Vec::new();
                s.encode(&mut whole);
                let head = whole.len() - s.payload.len();
                bytes.extend_from_slice(&whole[..head + 40]);
                break;
            }
            s.encode(&mut bytes);
        }
        (bytes, reads)
    })
}
