//! Multipart uploads. Small forms (profiles) are read whole within the
//! route's body limit; installers are streamed to a temporary file, after
//! the caller is checked from the fields that came before the file.

use crate::blobs::{BlobStore, ReceiveError, ReceivedFile};
use crate::error::ApiError;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use futures_util::StreamExt;
use std::collections::HashMap;

/// One field of a multipart upload.
pub struct FormField {
    pub name: String,
    pub file_name: String,
    pub bytes: axum::body::Bytes,
}

/// The largest text field of an upload form (a script, say).
const MAX_TEXT_FIELD_BYTES: usize = 1024 * 1024;
/// The most fields an upload form may have.
const MAX_FIELDS: usize = 64;

fn multipart_error(err: MultipartError, what: &str) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("{what}: {err}"))
    }
}

impl From<ReceiveError> for ApiError {
    fn from(err: ReceiveError) -> Self {
        match err {
            ReceiveError::TooLarge(_) => ApiError::PayloadTooLarge,
            ReceiveError::Body(reason) => ApiError::BadRequest(reason),
            ReceiveError::Io(err) => {
                tracing::error!(error = %err, "could not write an upload");
                ApiError::Internal
            }
        }
    }
}

/// Reads every field of a multipart upload (within the route's body limit).
pub async fn form_fields(
    mut multipart: axum::extract::Multipart,
) -> Result<Vec<FormField>, ApiError> {
    let mut fields = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, "malformed multipart body"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(e, &format!("could not read field {name}")))?;
        fields.push(FormField {
            name,
            file_name,
            bytes,
        });
    }
    Ok(fields)
}

/// An upload form: its text fields (a name sent twice keeps both values,
/// one per line) and the file, already on disk.
pub struct UploadForm {
    pub fields: HashMap<String, String>,
    /// The file's name as sent, and the file.
    pub file: Option<(String, ReceivedFile)>,
}

impl UploadForm {
    pub fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Reads an upload form whose file is the field `file_field`. Before the
/// first byte of the file is read, `may_upload` sees the text fields sent so
/// far and may refuse; the file is then streamed to a temporary file in the
/// blob store, at most `max_file_bytes`.
pub async fn read_upload(
    mut multipart: axum::extract::Multipart,
    file_field: &str,
    blobs: &BlobStore,
    max_file_bytes: u64,
    may_upload: impl FnOnce(&HashMap<String, String>) -> Result<(), ApiError>,
) -> Result<UploadForm, ApiError> {
    let mut form = UploadForm {
        fields: HashMap::new(),
        file: None,
    };
    let mut may_upload = Some(may_upload);
    let mut count = 0;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, "malformed multipart body"))?
    {
        count += 1;
        if count > MAX_FIELDS {
            return Err(ApiError::BadRequest(format!(
                "an upload form has at most {MAX_FIELDS} fields"
            )));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == file_field {
            if form.file.is_some() {
                return Err(ApiError::invalid(file_field, "attach one file"));
            }
            if let Some(check) = may_upload.take() {
                check(&form.fields)?;
            }
            let file_name = field.file_name().unwrap_or_default().to_string();
            let chunks = field.map(|chunk| {
                chunk.map_err(|err| {
                    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ReceiveError::TooLarge(max_file_bytes)
                    } else {
                        ReceiveError::Body(err.to_string())
                    }
                })
            });
            let received = blobs.receive(chunks, max_file_bytes).await?;
            form.file = Some((file_name, received));
            continue;
        }
        let mut value = Vec::new();
        let mut field = field;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| multipart_error(e, &format!("could not read field {name}")))?
        {
            if value.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8_lossy(&value).into_owned();
        form.fields
            .entry(name)
            .and_modify(|v| {
                v.push('\n');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(form)
}
