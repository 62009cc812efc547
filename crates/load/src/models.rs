//! The models a running OpenAI-compatible server serves (`GET /v1/models`),
//! so that requests name one it has, whatever the template calls it
//! (vLLM's `--served-model-name`, a chart's values, our mock's default).

use std::time::Duration;

/// Why the served models could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("GET {url}: {message}")]
    Request { url: String, message: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: not an OpenAI model list ({message})")]
    Body { url: String, message: String },
    #[error("GET {url}: the server lists no model")]
    Empty { url: String },
}

/// The ids in `{"data": [{"id": ...}, ...]}`, in the server's order (the
/// generator's reading, so both paths name the same model).
pub fn parse_model_list(body: &str) -> Result<Vec<String>, String> {
    loadgen::request::model_ids(body)
}

/// Asks the server at `base_url` (`http://127.0.0.1:PORT`) which models it
/// serves; one request, bounded by `timeout`.
pub async fn served_models(base_url: &str, timeout: Duration) -> Result<Vec<String>, ModelsError> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let request = |message: String| ModelsError::Request {
        url: url.clone(),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| request(e.to_string()))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| request(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ModelsError::Status { url, status });
    }
    let body = response.text().await.map_err(|e| request(e.to_string()))?;
    let models = parse_model_list(&body).map_err(|message| ModelsError::Body {
        url: url.clone(),
        message,
    })?;
    if models.is_empty() {
        return Err(ModelsError::Empty { url });
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vllms_model_list() {
        let body = r#"{"object":"list","data":[{"id":"Qwen/Qwen2.5-0.5B-Instruct","object":"model","owned_by":"vllm","max_model_len":2048}]}"#;
        assert_eq!(
            parse_model_list(body),
            Ok(vec!["Qwen/Qwen2.5-0.5B-Instruct".to_string()])
        );
        assert!(parse_model_list("{}").is_err());
        assert!(parse_model_list("<html>").is_err());
    }

    /// A one-connection HTTP server on loopback answering `status` and `body`.
    async fn serve_once(status: &str, body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn asks_a_real_server() {
        let url = serve_once("200 OK", r#"{"data":[{"id":"qwen-chat"}]}"#).await;
        let models = served_models(&url, Duration::from_secs(5)).await;
        assert_eq!(models.expect("listed"), vec!["qwen-chat".to_string()]);

        let url = serve_once("503 Service Unavailable", "{}").await;
        let err = served_models(&url, Duration::from_secs(5))
            .await
            .expect_err("503");
        assert!(err.to_string().ends_with("HTTP 503"), "{err}");

        let url = serve_once("200 OK", r#"{"data":[]}"#).await;
        let err = served_models(&url, Duration::from_secs(5))
            .await
            .expect_err("empty");
        assert!(err.to_string().contains("lists no model"), "{err}");
    }
}
