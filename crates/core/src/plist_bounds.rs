//! Bounds a property list before anything builds its value tree: a parser
//! (and the tree's drop) recurses once per nesting level, so an attacker-sized
//! nesting must be refused by a scan that does not recurse.

/// Deeper nesting than any real profile uses (Apple's are under ten).
pub const MAX_DEPTH: usize = 64;
/// Arrays, dictionaries and values in one property list.
pub const MAX_ELEMENTS: usize = 200_000;

/// Checks nesting depth and element count of an XML or binary plist.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    if bytes.starts_with(b"bplist00") {
        check_binary(bytes)
    } else {
        check_xml(bytes)
    }
}

fn too_deep() -> String {
    format!("the property list is nested deeper than {MAX_DEPTH} levels")
}

fn too_many() -> String {
    format!("the property list has more than {MAX_ELEMENTS} elements")
}

/// Counts open `<array>`/`<dict>` elements as the text goes, skipping
/// comments, processing instructions, DOCTYPE and CDATA.
fn check_xml(bytes: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut at = 0usize;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        let start = at + offset;
        let rest = &bytes[start..];
        let skip_to = |end: &[u8]| -> usize {
            rest.windows(end.len())
                .position(|w| w == end)
                .map_or(bytes.len(), |p| start + p + end.len())
        };
        if rest.starts_with(b"<!--") {
            at = skip_to(b"-->");
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            at = skip_to(b"]]>");
            continue;
        }
        let close = rest
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |p| start + p);
        let tag = &bytes[start + 1..close.min(bytes.len())];
        at = (close + 1).min(bytes.len());
        if tag.starts_with(b"?") || tag.starts_with(b"!") {
            continue;
        }
        let closing = tag.starts_with(b"/");
        let self_closing = tag.ends_with(b"/");
        let name_of = |t: &[u8]| -> Vec<u8> {
            t.iter()
                .copied()
                .skip_while(|&b| b == b'/')
                .take_while(|b| b.is_ascii_alphanumeric())
                .collect()
        };
        let name = name_of(tag);
        let container = name == b"array" || name == b"dict";
        if closing {
            if container {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        elements += 1;
        if elements > MAX_ELEMENTS {
            return Err(too_many());
        }
        if container && !self_closing {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
        }
    }
    Ok(())
}

fn be_uint(bytes: &[u8]) -> Option<u64> {
    (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

/// Walks a binary plist's object graph iteratively and computes its longest
/// reference chain (a shared object counts along every path through it).
fn check_binary(bytes: &[u8]) -> Result<(), String> {
    let malformed = || "not a valid binary property list".to_string();
    if bytes.len() < 8 + 32 {
        return Err(malformed());
    }
    let trailer = &bytes[bytes.len() - 32..];
    let offset_size = usize::from(trailer[6]);
    let ref_size = usize::from(trailer[7]);
    let objects = be_uint(&trailer[8..16]).ok_or_else(malformed)? as usize;
    let top = be_uint(&trailer[16..24]).ok_or_else(malformed)? as usize;
    let table = be_uint(&trailer[24..32]).ok_or_else(malformed)? as usize;
    if !(1..=8).contains(&offset_size) || !(1..=8).contains(&ref_size) || top >= objects {
        return Err(malformed());
    }
    if objects > MAX_ELEMENTS {
        return Err(too_many());
    }
    let offset_of = |index: usize| -> Option<usize> {
        let at = table.checked_add(index.checked_mul(offset_size)?)?;
        Some(be_uint(bytes.get(at..at + offset_size)?)? as usize)
    };
    // The references an object holds (arrays, sets, dictionaries).
    let children = |index: usize| -> Option<Vec<usize>> {
        let at = offset_of(index)?;
        let marker = *bytes.get(at)?;
        let per_entry = match marker >> 4 {
            0xA | 0xC => 1,
            0xD => 2,
            _ => return Some(Vec::new()),
        };
        let (count, mut refs_at) = match marker & 0x0F {
            0x0F => {
                let int_marker = *bytes.get(at + 1)?;
                let width = 1usize << (int_marker & 0x0F);
                (
                    be_uint(bytes.get(at + 2..at + 2 + width)?)? as usize,
                    at + 2 + width,
                )
            }
            n => (usize::from(n), at + 1),
        };
        let total = count.checked_mul(per_entry)?;
        if total > bytes.len() {
            return None;
        }
        let mut refs = Vec::with_capacity(total);
        for _ in 0..total {
            let r = be_uint(bytes.get(refs_at..refs_at + ref_size)?)? as usize;
            if r >= objects {
                return None;
            }
            refs.push(r);
            refs_at += ref_size;
        }
        Some(refs)
    };
    // Iterative post-order: the depth of an object is one more than its
    // deepest child's; an object met again while still open is a cycle.
    const OPEN: u32 = u32::MAX;
    let mut depth = vec![0u32; objects];
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    let mut edges = 0usize;
    depth[top] = OPEN;
    stack.push((top, children(top).ok_or_else(malformed)?, 0));
    while let Some((node, kids, next)) = stack.last_mut() {
        if *next < kids.len() {
            let child = kids[*next];
            *next += 1;
            edges += 1;
            if edges > MAX_ELEMENTS * 4 {
                return Err(too_many());
            }
            match depth[child] {
                OPEN => return Err("the property list refers to itself".into()),
                0 => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(too_deep());
                    }
                    depth[child] = OPEN;
                    let grandchildren = children(child).ok_or_else(malformed)?;
                    stack.push((child, grandchildren, 0));
                }
                _ => {}
            }
            continue;
        }
        let deepest = kids.iter().map(|&k| depth[k]).max().unwrap_or(0);
        let own = deepest + 1;
        if own as usize > MAX_DEPTH {
            return Err(too_deep());
        }
        depth[*node] = own;
        stack.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(inner: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\"?><!DOCTYPE plist><plist version=\"1.0\">{inner}</plist>")
            .into_bytes()
    }

    /// A binary plist of `n` one-element arrays, each holding the next.
    fn chain(n: usize) -> Vec<u8> {
        let mut data = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(data.len() as u32);
            data.push(0xA1);
            data.extend_from_slice(&((i + 1) as u32).to_be_bytes());
        }
        offsets.push(data.len() as u32);
        data.push(0x09);
        let table = data.len() as u64;
        for o in offsets {
            data.extend_from_slice(&o.to_be_bytes());
        }
        data.extend_from_slice(&[0; 6]);
        data.extend_from_slice(&[4, 4]);
        data.extend_from_slice(&((n + 1) as u64).to_be_bytes());
        data.extend_from_slice(&0u64.to_be_bytes());
        data.extend_from_slice(&table.to_be_bytes());
        data
    }

    #[test]
    fn xml_nesting_is_bounded_without_parsing() {
        assert!(check(&xml(
            "<dict><key>a</key><array><string>x</string><array/></array></dict>"
        ))
        .is_ok());
        let deep = "<array>".repeat(40_000) + &"</array>".repeat(40_000);
        assert_eq!(check(&xml(&deep)).unwrap_err(), too_deep());
        let deep_dicts = "<dict><key>k</key>".repeat(100) + "<true/>" + &"</dict>".repeat(100);
        assert_eq!(check(&xml(&deep_dicts)).unwrap_err(), too_deep());
        // Markup inside comments and CDATA doesn't count.
        let hidden = format!(
            "<!-- {} --><string><![CDATA[{}]]></string>",
            "<array>".repeat(100),
            "<dict>".repeat(100)
        );
        assert!(check(&xml(&hidden)).is_ok());
    }

    #[test]
    fn binary_chains_and_cycles_are_refused() {
        assert!(check(&chain(10)).is_ok());
        assert_eq!(check(&chain(200_000)).unwrap_err(), too_many());
        assert_eq!(check(&chain(100)).unwrap_err(), too_deep());
        // A real binary plist (what plist writes) passes.
        let mut bytes = Vec::new();
        let value = plist::Value::Array(vec![plist::Value::Dictionary(
            [("k".to_string(), plist::Value::Boolean(true))]
                .into_iter()
                .collect(),
        )]);
        value.to_writer_binary(&mut bytes).unwrap();
        assert!(check(&bytes).is_ok());
    }

    #[test]
    fn a_shared_object_counts_along_its_longest_path() {
        // Object 0 holds 1..=n in reverse; each i holds i+1: depth n+1 although
        // every object is also one step from the top.
        let n = 80usize;
        let mut data = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        offsets.push(data.len() as u16);
        data.push(0xAF);
        data.push(0x10);
        data.push(n as u8);
        for i in (1..=n).rev() {
            data.push(i as u8);
        }
        for i in 1..=n {
            offsets.push(data.len() as u16);
            if i < n {
                data.push(0xA1);
                data.push((i + 1) as u8);
            } else {
                data.push(0x09);
            }
        }
        let table = data.len() as u64;
        for o in &offsets {
            data.extend_from_slice(&o.to_be_bytes());
        }
        data.extend_from_slice(&[0; 6]);
        data.extend_from_slice(&[2, 1]);
        data.extend_from_slice(&((n + 1) as u64).to_be_bytes());
        data.extend_from_slice(&0u64.to_be_bytes());
        data.extend_from_slice(&table.to_be_bytes());
        assert_eq!(check(&data).unwrap_err(), too_deep());
    }
}
