//! A plain RFC 1951 inflater for the deflate tests: it reports the
//! farthest back-reference of a stream, which zlib's inflater does not
//! check against a small window. Written from the RFC, bit by bit; slow
//! and simple on purpose.

/// Reads bits least significant first, as deflate packs them.
struct Bits<'a> {
    input: &'a [u8],
    pos: usize,
    bit: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, String> {
        let byte = *self.input.get(self.pos).ok_or("input ended")?;
        let b = u32::from(byte >> self.bit) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.pos += 1;
        }
        Ok(b)
    }

    fn bits(&mut self, n: u32) -> Result<u32, String> {
        let mut v = 0;
        for i in 0..n {
            v |= self.bit()? << i;
        }
        Ok(v)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }
}

/// A canonical Huffman code: how many codes of each length, and the
/// symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[usize::from(offs[usize::from(l)])] = sym as u16;
                offs[usize::from(l)] += 1;
            }
        }
        Huffman { count, symbol }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<usize, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.bit()? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(usize::from(self.symbol[(index + code - first) as usize]));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("bad Huffman code".into())
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u32; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Inflates a raw deflate stream that ends with a sync flush; returns the
/// output and the farthest distance any back-reference used.
pub(super) fn inflate(input: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut bits = Bits {
        input,
        pos: 0,
        bit: 0,
    };
    let mut out = Vec::new();
    let mut farthest = 0;
    loop {
        let last = bits.bit()? == 1;
        match bits.bits(2)? {
            0 => {
                if bits.bit != 0 {
                    bits.bit = 0;
                    bits.pos += 1;
                }
                let len = bits.bits(16)? as usize;
                let _nlen = bits.bits(16)?;
                for _ in 0..len {
                    out.push(bits.bits(8)? as u8);
                }
            }
            1 => {
                let mut lengths = [0u8; 288];
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..].fill(8);
                let litlen = Huffman::new(&lengths);
                let dist = Huffman::new(&[5u8; 30]);
                block(&mut bits, &litlen, &dist, &mut out, &mut farthest)?;
            }
            2 => {
                let (litlen, dist) = dynamic_codes(&mut bits)?;
                block(&mut bits, &litlen, &dist, &mut out, &mut farthest)?;
            }
            _ => return Err("reserved block type".into()),
        }
        if last || bits.at_end() {
            return Ok((out, farthest));
        }
    }
}

/// The code lengths of a dynamic block's header.
fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), String> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let hlit = bits.bits(5)? as usize + 257;
    let hdist = bits.bits(5)? as usize + 1;
    let hclen = bits.bits(4)? as usize + 4;
    let mut cl = [0u8; 19];
    for &i in &ORDER[..hclen] {
        cl[i] = bits.bits(3)? as u8;
    }
    let cl = Huffman::new(&cl);
    let mut lengths = Vec::with_capacity(hlit + hdist);
    while lengths.len() < hlit + hdist {
        match cl.decode(bits)? {
            sym @ 0..=15 => lengths.push(sym as u8),
            16 => {
                let prev = *lengths.last().ok_or("repeat with nothing before")?;
                let n = 3 + bits.bits(2)?;
                lengths.extend(std::iter::repeat_n(prev, n as usize));
            }
            17 => {
                let n = 3 + bits.bits(3)?;
                lengths.extend(std::iter::repeat_n(0, n as usize));
            }
            _ => {
                let n = 11 + bits.bits(7)?;
                lengths.extend(std::iter::repeat_n(0, n as usize));
            }
        }
    }
    Ok((
        Huffman::new(&lengths[..hlit]),
        Huffman::new(&lengths[hlit..hlit + hdist]),
    ))
}

/// One compressed block's symbols, up to its end-of-block.
fn block(
    bits: &mut Bits<'_>,
    litlen: &Huffman,
    dist: &Huffman,
    out: &mut Vec<u8>,
    farthest: &mut usize,
) -> Result<(), String> {
    loop {
        let sym = litlen.decode(bits)?;
        match sym {
            0..=255 => out.push(sym as u8),
            256 => return Ok(()),
            _ => {
                let i = sym - 257;
                let len = usize::from(*LEN_BASE.get(i).ok_or("bad length")?)
                    + bits.bits(LEN_EXTRA[i])? as usize;
                let d = dist.decode(bits)?;
                let distance = *DIST_BASE.get(d).ok_or("bad distance")? as usize
                    + bits.bits(DIST_EXTRA[d])? as usize;
                if distance > out.len() {
                    return Err("distance before the start".into());
                }
                *farthest = (*farthest).max(distance);
                for _ in 0..len {
                    out.push(out[out.len() - distance]);
                }
            }
        }
    }
}
