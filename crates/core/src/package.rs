//! Installer packages: what a macOS flat package (.pkg, a xar archive) says
//! about itself.

use flate2::read::ZlibDecoder;
use std::io::Read;

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

/// One file's bytes from the archive, by name.
fn archived_file(archive: &[u8], toc: &str, heap_start: usize, name: &str) -> Option<Vec<u8>> {
    let mut rest = toc;
    while let Some(at) = rest.find("<file ") {
        rest = &rest[at + 6..];
        let end = rest.find("</file>").unwrap_or(rest.len());
        let entry = &rest[..end];
        if element(entry, "name").map(str::trim) == Some(name) {
            let offset: usize = element(entry, "offset")?.trim().parse().ok()?;
            let length: usize = element(entry, "length")?.trim().parse().ok()?;
            let data = archive.get(heap_start + offset..heap_start + offset + length)?;
            let compressed =
                attribute(entry, "encoding", "style").is_some_and(|s| s.contains("gzip"));
            return if compressed {
                inflate(data).ok()
            } else {
                Some(data.to_vec())
            };
        }
    }
    None
}

/// Reads a flat package's metadata from its `Distribution` (product archives)
/// or `PackageInfo` (component packages). Fields a package does not declare
/// stay empty; an archive that is not a xar archive is an error.
pub fn read_pkg_metadata(archive: &[u8]) -> Result<PackageMetadata, String> {
    if archive.len() < 28 || &archive[..4] != b"xar!" {
        return Err("not a macOS flat package (xar archive)".into());
    }
    let header_size = u16::from_be_bytes([archive[4], archive[5]]) as usize;
    let toc_compressed =
        u64::from_be_bytes(archive[8..16].try_into().map_err(|_| "short header")?) as usize;
    let toc_bytes = archive
        .get(header_size..header_size + toc_compressed)
        .ok_or("the table of contents runs past the end of the file")?;
    let toc =
        String::from_utf8(inflate(toc_bytes)?).map_err(|_| "the table of contents is not UTF-8")?;
    let heap_start = header_size + toc_compressed;
    if let Some(distribution) = archived_file(archive, &toc, heap_start, "Distribution") {
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
    if let Some(info) = archived_file(archive, &toc, heap_start, "PackageInfo") {
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
        let metadata = read_pkg_metadata(&flat_package("Distribution", distribution)).unwrap();
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
        let metadata = read_pkg_metadata(&flat_package("PackageInfo", info)).unwrap();
        assert_eq!(metadata.version, "1.2.3");
        assert_eq!(metadata.bundle_id, "com.example.agent");
    }

    #[test]
    fn other_files_are_refused() {
        assert!(read_pkg_metadata(b"PK\x03\x04 not a pkg at all, a zip file").is_err());
    }
}
