//! Installer packages: what a macOS flat package (.pkg, a xar archive) says
//! about itself.

use flate2::read::ZlibDecoder;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

/// Name, version and bundle id as the package declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageMetadata {
    pub name: String,
    pub version: String,
    pub bundle_id: String,
}

/// The most a package's table of contents or metadata file may inflate to.
const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ZlibDecoder::new(bytes)
        .take(MAX_METADATA_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt compressed data: {e}"))?;
    Ok(out)
}

/// The text between the first `<tag>` and its `</tag>`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The attributes of the first `<tag ...>` element.
fn attribute(xml: &str, tag: &str, name: &str) -> Option<String> {
    let open = xml.find(&format!("<{tag} "))?;
    let end = xml[open..].find('>')? + open;
    let attributes = &xml[open..end];
    let key = format!(" {name}=\"");
    let start = attributes.find(&key)? + key.len();
    let stop = attributes[start..].find('"')? + start;
    Some(attributes[start..stop].to_string())
}

/// Files in one table of contents, and their nesting, beyond what any real
/// package has.
const MAX_TOC_FILES: usize = 100_000;
const MAX_TOC_DEPTH: usize = 256;

/// Where one archived file's bytes are in the heap.
#[derive(Debug, Clone, Default)]
struct TocEntry {
    name: Option<String>,
    offset: Option<usize>,
    length: Option<usize>,
    gzip: bool,
}

/// Reads the table of contents once, with an XML reader: the entries of the
/// files named in `wanted` (the first of each name).
fn toc_entries(toc: &str, wanted: &[&str]) -> Result<HashMap<String, TocEntry>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(toc);
    let mut path: Vec<String> = Vec::new();
    let mut open_files: Vec<TocEntry> = Vec::new();
    let mut files = 0usize;
    let mut found = HashMap::new();
    let parent_is = |path: &[String], name: &str| path.len() >= 2 && path[path.len() - 2] == name;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the table of contents is not XML: {e}"))?;
        match event {
            Event::Empty(e) if e.name().as_ref() == "encoding" => {
                if let Some(file) = open_files.last_mut() {
                    file.gzip |= gzip_style(&e);
                }
            }
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                if path.len() >= MAX_TOC_DEPTH {
                    return Err("the table of contents is nested too deep".into());
                }
                if name == "file" {
                    files += 1;
                    if files > MAX_TOC_FILES {
                        return Err("the table of contents lists too many files".into());
                    }
                    open_files.push(TocEntry::default());
                } else if name == "encoding" {
                    if let Some(file) = open_files.last_mut() {
                        file.gzip |= gzip_style(&e);
                    }
                }
                path.push(name);
            }
            Event::Text(text) => {
                let Some(file) = open_files.last_mut() else {
                    continue;
                };
                let value = text.xml10_content();
                let value = value.trim();
                match path.last().map(String::as_str) {
                    Some("name") if parent_is(&path, "file") => file.name = Some(value.to_string()),
                    Some("offset") if parent_is(&path, "data") => file.offset = value.parse().ok(),
                    Some("length") if parent_is(&path, "data") => file.length = value.parse().ok(),
                    _ => {}
                }
            }
            Event::End(_) => {
                let closed_a_file = path.pop().as_deref() == Some("file");
                let Some(file) = open_files.pop_if(|_| closed_a_file) else {
                    continue;
                };
                if let Some(name) = file.name.clone() {
                    if wanted.contains(&name.as_str()) && !found.contains_key(&name) {
                        found.insert(name, file);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(found)
}

/// Whether an `<encoding>` says the data is compressed.
fn gzip_style(element: &quick_xml::events::BytesStart<'_>) -> bool {
    element
        .try_get_attribute("style")
        .ok()
        .flatten()
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .is_some_and(|style| style.contains("gzip"))
}

/// A compressed table of contents or metadata file larger than this is refused unread.
const MAX_STORED_METADATA_BYTES: u64 = 16 * 1024 * 1024;

/// `length` bytes at `offset`, read from the archive without holding the rest.
fn read_at(archive: &mut (impl Read + Seek), offset: u64, length: u64) -> Result<Vec<u8>, String> {
    if length > MAX_STORED_METADATA_BYTES {
        return Err("a metadata file of the package is implausibly large".into());
    }
    archive
        .seek(SeekFrom::Start(offset))
        .map_err(|e| format!("reading the package: {e}"))?;
    let mut out = Vec::with_capacity(length as usize);
    archive
        .take(length)
        .read_to_end(&mut out)
        .map_err(|e| format!("reading the package: {e}"))?;
    if out.len() as u64 != length {
        return Err("a metadata file runs past the end of the package".into());
    }
    Ok(out)
}

/// One file's bytes from the archive.
fn archived_file(
    archive: &mut (impl Read + Seek),
    entry: &TocEntry,
    heap_start: u64,
) -> Option<Vec<u8>> {
    let (offset, length) = (entry.offset?, entry.length?);
    let start = heap_start.checked_add(offset as u64)?;
    let data = read_at(archive, start, length as u64).ok()?;
    if entry.gzip {
        inflate(&data).ok()
    } else {
        Some(data)
    }
}

/// Reads a flat package's metadata from its `Distribution` (product archives)
/// or `PackageInfo` (component packages). Fields a package does not declare
/// stay empty; an archive that is not a xar archive is an error. Only the
/// header, the table of contents and those files are read, so a package of
/// any size costs the same.
pub fn read_pkg_metadata(mut archive: impl Read + Seek) -> Result<PackageMetadata, String> {
    let header = read_at(&mut archive, 0, 28)
        .ok()
        .filter(|h| &h[..4] == b"xar!")
        .ok_or("not a macOS flat package (xar archive)")?;
    let header_size = u64::from(u16::from_be_bytes([header[4], header[5]]));
    let toc_compressed = u64::from_be_bytes(header[8..16].try_into().map_err(|_| "short header")?);
    let toc_bytes = read_at(&mut archive, header_size, toc_compressed)
        .map_err(|_| "the table of contents runs past the end of the file")?;
    let toc = String::from_utf8(inflate(&toc_bytes)?)
        .map_err(|_| "the table of contents is not UTF-8")?;
    let heap_start = header_size + toc_compressed;
    let entries = toc_entries(&toc, &["Distribution", "PackageInfo"])?;
    let mut file = |name: &str| {
        entries
            .get(name)
            .and_then(|entry| archived_file(&mut archive, entry, heap_start))
    };
    if let Some(distribution) = file("Distribution") {
        let xml = String::from_utf8_lossy(&distribution);
        let bundle_id = attribute(&xml, "product", "id")
            .or_else(|| attribute(&xml, "pkg-ref", "id"))
            .unwrap_or_default();
        let version = attribute(&xml, "product", "version")
            .or_else(|| attribute(&xml, "pkg-ref", "version"))
            .unwrap_or_default();
        let name = element(&xml, "title")
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        return Ok(PackageMetadata {
            name,
            version,
            bundle_id,
        });
    }
    if let Some(info) = file("PackageInfo") {
        let xml = String::from_utf8_lossy(&info);
        return Ok(PackageMetadata {
            name: String::new(),
            version: attribute(&xml, "pkg-info", "version").unwrap_or_default(),
            bundle_id: attribute(&xml, "pkg-info", "identifier").unwrap_or_default(),
        });
    }
    Ok(PackageMetadata::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::ZlibEncoder;
    use flate2::Compression;
    use std::io::Cursor;
    use std::io::Write;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A flat package as pkgbuild/productbuild write them: header, zlib TOC, heap.
    fn flat_package(file: &str, contents: &str) -> Vec<u8> {
        let packed = zlib(contents.as_bytes());
        let toc = format!(
            "<?xml version=\"1.0\"?><xar><toc><file id=\"1\"><data><length>{}</length><offset>20</offset>\
             <size>{}</size><encoding style=\"application/x-gzip\"/></data><name>{file}</name></file></toc></xar>",
            packed.len(),
            contents.len()
        );
        let ztoc = zlib(toc.as_bytes());
        let mut out = b"xar!".to_vec();
        out.extend(28u16.to_be_bytes());
        out.extend(1u16.to_be_bytes());
        out.extend((ztoc.len() as u64).to_be_bytes());
        out.extend((toc.len() as u64).to_be_bytes());
        out.extend(1u32.to_be_bytes());
        out.extend(ztoc);
        out.extend([0u8; 20]);
        out.extend(packed);
        out
    }

    #[test]
    fn reads_a_product_archive() {
        let distribution = r#"<installer-gui-script minSpecVersion="2"><title>Company Portal</title>
            <pkg-ref id="com.microsoft.CompanyPortalMac" version="5.2504.0">#CP.pkg</pkg-ref>
            <product id="com.microsoft.CompanyPortalMac" version="5.2504.0"/></installer-gui-script>"#;
        let metadata =
            read_pkg_metadata(Cursor::new(flat_package("Distribution", distribution))).unwrap();
        assert_eq!(
            metadata,
            PackageMetadata {
                name: "Company Portal".into(),
                version: "5.2504.0".into(),
                bundle_id: "com.microsoft.CompanyPortalMac".into()
            }
        );
    }

    #[test]
    fn reads_a_component_package() {
        let info = r#"<pkg-info format-version="2" identifier="com.example.agent" version="1.2.3" install-location="/"/>"#;
        let metadata = read_pkg_metadata(Cursor::new(flat_package("PackageInfo", info))).unwrap();
        assert_eq!(metadata.version, "1.2.3");
        assert_eq!(metadata.bundle_id, "com.example.agent");
    }

    #[test]
    fn a_table_of_contents_of_unclosed_files_is_read_in_one_pass() {
        let toc = "<xar><toc>".to_string() + &"<file ".repeat(256 * 1024 / 6);
        let mut archive = b"xar!".to_vec();
        let compressed = zlib(toc.as_bytes());
        archive.extend_from_slice(&28u16.to_be_bytes());
        archive.extend_from_slice(&1u16.to_be_bytes());
        archive.extend_from_slice(&(compressed.len() as u64).to_be_bytes());
        archive.extend_from_slice(&(toc.len() as u64).to_be_bytes());
        archive.extend_from_slice(&1u32.to_be_bytes());
        archive.extend_from_slice(&compressed);
        // Unclosed `<file ` elements are malformed XML, refused in one pass.
        assert!(read_pkg_metadata(Cursor::new(archive)).is_err());
        let many = "<xar><toc>".to_string()
            + &"<file><name>x</name></file>".repeat(MAX_TOC_FILES + 1)
            + "</toc></xar>";
        assert!(toc_entries(&many, &["Distribution"]).is_err());
        let deep = "<xar><toc>".to_string() + &"<file>".repeat(MAX_TOC_DEPTH + 1);
        assert!(toc_entries(&deep, &["Distribution"]).is_err());
    }

    #[test]
    fn other_files_are_refused() {
        assert!(
            read_pkg_metadata(Cursor::new(b"PK\x03\x04 not a pkg at all, a zip file")).is_err()
        );
    }
}
