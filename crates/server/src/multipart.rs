//! Multipart uploads (profiles, installers), read whole within the route's body limit.

/// One field of a multipart upload.
pub struct FormField {
    pub name: String,
    pub file_name: String,
    pub bytes: axum::body::Bytes,
}

/// Reads every field of a multipart upload (within the admin body limit).
pub async fn form_fields(
    mut multipart: axum::extract::Multipart,
) -> Result<Vec<FormField>, crate::error::ApiError> {
    use crate::error::ApiError;
    let mut fields = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::BadRequest(format!("could not read field {name}: {e}")))?;
        fields.push(FormField {
            name,
            file_name,
            bytes,
        });
    }
    Ok(fields)
}
