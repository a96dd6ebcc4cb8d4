use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{bounded, closed_port, notification};
use crate::alert::Status;
use crate::config::model::{EmailChannel, SmtpTls};
use crate::notify::email::Email;

/// One mail a test SMTP server accepted.
#[derive(Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// How the test server behaves.
#[derive(Clone, Copy)]
enum Server {
    /// Accepts every mail.
    Accept,
    /// Answers MAIL FROM with this reply.
    RefuseMail(&'static str),
    /// Accepts the connection and never says a word.
    Silent,
}

/// A minimal SMTP server on 127.0.0.1: greeting, EHLO, MAIL, RCPT, DATA (dot-unstuffed),
/// RSET, NOOP, QUIT.
async fn smtp_server(behaviour: Server) -> (u16, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                if let Server::Silent = behaviour {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let mut read = BufReader::new(read);
                let _ = write.write_all(b"220 localhost ESMTP test\r\n").await;
                let (mut from, mut to) = (String::new(), Vec::new());
                let mut line = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let command = line.trim_end().to_string();
                    let verb = command
                        .split([' ', ':'])
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: String = match verb.as_str() {
                        "EHLO" | "HELO" => "250 localhost\r\n".into(),
                        "MAIL" => match behaviour {
                            Server::RefuseMail(reply) => format!("{reply}\r\n"),
                            _ => {
                                from = address(&command);
                                "250 2.1.0 ok\r\n".into()
                            }
                        },
                        "RCPT" => {
                            to.push(address(&command));
                            "250 2.1.5 ok\r\n".into()
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                            }
                            let _ = tx.send(Mail {
                                from: std::mem::take(&mut from),
                                to: std::mem::take(&mut to),
                                data,
                            });
                            "250 2.0.0 queued\r\n".into()
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => "250 ok\r\n".into(),
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

fn address(command: &str) -> String {
    command
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("")
        .to_string()
}

fn channel(port: u16) -> EmailChannel {
    EmailChannel {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "slamon <slamon@example.com>".into(),
        to: vec![
            "oncall@example.com".into(),
            "Team Lead <lead@example.com>".into(),
        ],
    }
}

/// Headers (unfolded, names lower-cased) and body of a MIME entity.
fn split(entity: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = entity.split_once("\r\n\r\n").unwrap_or((entity, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn decode(headers: &[(String, String)], body: &str) -> String {
    let encoding = headers
        .iter()
        .find(|(n, _)| n == "content-transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("7bit") | Some("8bit") => body.to_string(),
        Some("quoted-printable") => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        Some(other) => panic!("unexpected transfer encoding {other}"),
    }
}

#[tokio::test]
async fn a_mail_with_both_parts_reaches_every_recipient() {
    bounded(async {
        let (port, mut rx) = smtp_server(Server::Accept).await;
        let email = Email::new(&channel(port), Duration::from_secs(5)).unwrap();
        email
            .send(&notification(Status::Firing), "delivery-7")
            .await
            .unwrap();
        let mail = rx.recv().await.unwrap();

        assert_eq!(mail.from, "slamon@example.com");
        assert_eq!(mail.to, ["oncall@example.com", "lead@example.com"]);

        let (headers, body) = split(&mail.data);
        assert_eq!(
            get(&headers, "subject"),
            "[FIRING] checkout p95 < 500ms: 812 ms (shop /api/v1/orders)"
        );
        assert!(get(&headers, "from").contains("slamon@example.com"));
        let to = get(&headers, "to");
        assert!(
            to.contains("oncall@example.com") && to.contains("lead@example.com"),
            "{to}"
        );
        assert_eq!(
            get(&headers, "message-id"),
            "<slamon.delivery-7@example.com>"
        );
        assert_eq!(get(&headers, "x-slamon-fingerprint"), "3f2a9c0d1e4b5a6c");
        assert_eq!(get(&headers, "auto-submitted"), "auto-generated");

        let content_type = get(&headers, "content-type");
        assert!(
            content_type.starts_with("multipart/alternative"),
            "{content_type}"
        );
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .to_string();
        let parts: Vec<&str> = body
            .split(&format!("--{boundary}"))
            .map(|p| p.trim_start_matches("\r\n"))
            .filter(|p| !p.is_empty() && !p.starts_with("--"))
            .collect();
        assert_eq!(parts.len(), 2, "{body}");

        let (plain_headers, plain) = split(parts[0]);
        assert!(get(&plain_headers, "content-type").starts_with("text/plain"));
        let plain = decode(&plain_headers, &plain);
        assert!(plain.contains("812 ms (threshold 500 ms)"), "{plain}");
        assert!(plain.contains("/api/v1/orders"), "{plain}");
        assert!(plain.contains("payments & <ops> \"core\""), "{plain}");
        assert!(plain.contains("2024-05-01 12:00:00 UTC"), "{plain}");
        assert!(
            plain.contains("http://127.0.0.1:9100/status?objective=checkout&monitor=shop"),
            "{plain}"
        );

        let (html_headers, html) = split(parts[1]);
        assert!(get(&html_headers, "content-type").starts_with("text/html"));
        let html = decode(&html_headers, &html);
        assert!(
            html.contains("payments &amp; &lt;ops&gt; &quot;core&quot;"),
            "{html}"
        );
        assert!(html.contains("p95 &lt; 500ms"), "{html}");
        assert!(!html.contains("<ops>"), "{html}");
        assert!(
            html.contains(
                "href=\"http://127.0.0.1:9100/status?objective=checkout&amp;monitor=shop\""
            ),
            "{html}"
        );
    })
    .await
}

#[tokio::test]
async fn resolved_and_test_subjects() {
    bounded(async {
        let (port, mut rx) = smtp_server(Server::Accept).await;
        let email = Email::new(&channel(port), Duration::from_secs(5)).unwrap();
        for (status, tag) in [(Status::Resolved, "[RESOLVED]"), (Status::Test, "[TEST]")] {
            email.send(&notification(status), "k").await.unwrap();
            let mail = rx.recv().await.unwrap();
            let (headers, _) = split(&mail.data);
            assert!(get(&headers, "subject").starts_with(tag));
        }
    })
    .await
}

#[tokio::test]
async fn smtp_errors_are_classified() {
    bounded(async {
        let n = notification(Status::Firing);

        let (port, _rx) = smtp_server(Server::RefuseMail("451 4.3.0 try again later")).await;
        let e = Email::new(&channel(port), Duration::from_secs(5))
            .unwrap()
            .send(&n, "k")
            .await
            .unwrap_err();
        assert!(e.retryable, "{}", e.message);
        assert!(e.message.contains("451"), "{}", e.message);

        let (port, _rx) = smtp_server(Server::RefuseMail("550 5.7.1 relaying denied")).await;
        let e = Email::new(&channel(port), Duration::from_secs(5))
            .unwrap()
            .send(&n, "k")
            .await
            .unwrap_err();
        assert!(!e.retryable, "{}", e.message);
        assert!(e.message.contains("550"), "{}", e.message);

        let port = closed_port().await;
        let e = Email::new(&channel(port), Duration::from_secs(2))
            .unwrap()
            .send(&n, "k")
            .await
            .unwrap_err();
        assert!(e.retryable, "{}", e.message);

        let (port, _rx) = smtp_server(Server::Silent).await;
        let e = Email::new(&channel(port), Duration::from_millis(300))
            .unwrap()
            .send(&n, "k")
            .await
            .unwrap_err();
        assert!(e.retryable, "{}", e.message);
    })
    .await
}

#[test]
fn bad_addresses_fail_at_construction() {
    let mut c = channel(25);
    c.to = vec!["not an address".into()];
    let e = Email::new(&c, Duration::from_secs(1))
        .err()
        .expect("must fail");
    assert!(!e.retryable);
    let mut c = channel(25);
    c.to.clear();
    assert!(Email::new(&c, Duration::from_secs(1)).is_err());
}
