//! A request's parameters: the query string, then a URL-encoded or
//! multipart body (qBittorrent reads both; cross-seed POSTs everything).
//!
//! Multipart forms are read with `multer` under limits: at most
//! `max_parts` parts, field names and text values bounded, files bounded by
//! the body cap the HTTP server already enforced. A form that breaks a
//! limit or is malformed is refused whole, with the reason.

use std::collections::HashMap;

use hyper::body::Bytes;

/// Longest text field of a multipart form, bytes (a `urls` field with
/// hundreds of magnet links fits).
const MAX_TEXT_FIELD: usize = 1 << 20;

/// A file part of a multipart form.
#[derive(Debug)]
pub(crate) struct FilePart {
    /// The part's file name (`filename=`), "" when none.
    pub(crate) filename: String,
    pub(crate) bytes: Bytes,
}

/// The parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Params {
    text: HashMap<String, String>,
    /// Parts with a file name, in order (`torrents` of `torrents/add`).
    pub(crate) files: Vec<FilePart>,
}

/// Why a form was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    #[error("multipart form without a boundary")]
    NoBoundary,
    #[error("more than {0} parts in the form")]
    TooManyParts(usize),
    #[error("a text field longer than {MAX_TEXT_FIELD} bytes")]
    FieldTooLong,
    #[error("malformed multipart form: {0}")]
    Multipart(String),
}

impl Params {
    /// The text value of `key` (the last one given wins, as Qt's query reader).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.text.get(key).map(String::as_str)
    }

    /// `key` as a boolean: "true"/"false" (any case), "1"/"0".
    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// `key` as an integer, `None` when absent or not a number.
    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        self.get(key)?.trim().parse().ok()
    }

    /// `key` as a number, `None` when absent or not a number.
    pub(crate) fn float(&self, key: &str) -> Option<f64> {
        self.get(key)?
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite())
    }

    fn add_urlencoded(&mut self, bytes: &[u8]) {
        for (k, v) in form_urlencoded::parse(bytes) {
            self.text.insert(k.into_owned(), v.into_owned());
        }
    }

    /// Reads the query string, then the body as its `Content-Type` says.
    ///
    /// Errors: [`FormError`] for a multipart body that breaks a limit or
    /// cannot be read.
    pub(crate) async fn read(
        head: &hyper::http::request::Parts,
        body: Bytes,
        max_parts: usize,
    ) -> Result<Params, FormError> {
        let mut p = Params::default();
        if let Some(q) = head.uri.query() {
            p.add_urlencoded(q.as_bytes());
        }
        let ctype = head
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "multipart/form-data" {
            let boundary = multer::parse_boundary(ctype).map_err(|_| FormError::NoBoundary)?;
            p.add_multipart(body, boundary, max_parts).await?;
        } else if !body.is_empty() {
            // qBittorrent reads an untyped body as a form too (curl -d).
            p.add_urlencoded(&body);
        }
        Ok(p)
    }

    async fn add_multipart(
        &mut self,
        body: Bytes,
        boundary: String,
        max_parts: usize,
    ) -> Result<(), FormError> {
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new().per_field(usize::MAX as u64), // the body cap bounds files
        );
        let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
        let mut parts = 0usize;
        loop {
            let field = match form.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(FormError::Multipart(e.to_string())),
            };
            parts += 1;
            if parts > max_parts {
                return Err(FormError::TooManyParts(max_parts));
            }
            let name = field.name().unwrap_or("").to_string();
            let filename = field.file_name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| FormError::Multipart(e.to_string()))?;
            match filename {
                Some(filename) => self.files.push(FilePart { filename, bytes }),
                None => {
                    if bytes.len() > MAX_TEXT_FIELD {
                        return Err(FormError::FieldTooLong);
                    }
                    self.text
                        .insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(uri: &str, ctype: &str) -> hyper::http::request::Parts {
        hyper::Request::builder()
            .uri(uri)
            .header("content-type", ctype)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[tokio::test]
    async fn query_body_and_multipart() {
        let p = Params::read(
            &head(
                "/x?hashes=a%7Cb&limit=3",
                "application/x-www-form-urlencoded",
            ),
            Bytes::from_static(b"limit=5&flag=TRUE"),
            10,
        )
        .await
        .unwrap();
        assert_eq!(p.get("hashes"), Some("a|b"));
        assert_eq!(p.int("limit"), Some(5));
        assert_eq!(p.flag("flag"), Some(true));
        let body = "--XX\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"a.torrent\"\r\n\r\nd4:infoe\r\n--XX\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nmovies\r\n--XX--\r\n";
        let p = Params::read(
            &head("/x", "multipart/form-data; boundary=XX"),
            Bytes::from(body),
            10,
        )
        .await
        .unwrap();
        assert_eq!(p.get("category"), Some("movies"));
        assert_eq!(p.files.len(), 1);
        assert_eq!(&p.files[0].bytes[..], b"d4:infoe");
        let many: String = (0..20)
            .map(|i| format!("--XX\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"))
            .collect::<String>()
            + "--XX--\r\n";
        let r = Params::read(
            &head("/x", "multipart/form-data; boundary=XX"),
            Bytes::from(many),
            10,
        )
        .await;
        assert!(matches!(r, Err(FormError::TooManyParts(10))));
        let r = Params::read(&head("/x", "multipart/form-data"), Bytes::new(), 10).await;
        assert!(matches!(r, Err(FormError::NoBoundary)));
    }
}
