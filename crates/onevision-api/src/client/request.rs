//! From the engine's job to a chat completion request that any compatible server takes: pictures
//! inline as PNG data URLs (shrunk first when the job limits their area, as the local engine
//! would), sampling values only where the job sets them away from "off", a stream with usage.

use base64::Engine as _;
use onevision_engine::prompt::{Part, Role};
use onevision_engine::worker::Job;

use crate::wire::{ChatMessage, ChatRequest, Content, ContentPart, ImageUrl, Stop, StreamOptions};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("message {message} refers to picture {picture}, but the job has {count}")]
    MissingPicture {
        message: usize,
        picture: usize,
        count: usize,
    },
    #[error("cannot encode picture {picture} as PNG: {reason}")]
    Encode { picture: usize, reason: String },
}

pub fn chat_request(job: &Job, model: &str) -> Result<ChatRequest, RequestError> {
    let mut messages = Vec::with_capacity(job.messages.len());
    for (i, m) in job.messages.iter().enumerate() {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let all_text = m.parts.iter().all(|p| matches!(p, Part::Text(_)));
        let content = if all_text {
            // Plain strings suit text-only servers and old ones best.
            Content::Text(
                m.parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t.as_str()),
                        Part::Image(_) => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        } else {
            let mut parts = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                parts.push(match p {
                    Part::Text(t) => ContentPart::Text { text: t.clone() },
                    Part::Image(k) => {
                        let picture = job.pictures.get(*k).ok_or(RequestError::MissingPicture {
                            message: i,
                            picture: *k,
                            count: job.pictures.len(),
                        })?;
                        ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: data_url(picture, job.max_pixels, *k)?,
                                detail: None,
                            },
                        }
                    }
                });
            }
            Content::Parts(parts)
        };
        messages.push(ChatMessage {
            role: role.into(),
            content: Some(content),
        });
    }
    let mut req = ChatRequest {
        model: Some(model.to_string()),
        messages,
        stream: Some(true),
        stream_options: Some(StreamOptions {
            include_usage: true,
        }),
        max_tokens: job.max_new_tokens.map(|n| n as i64),
        stop: (!job.stop.is_empty()).then(|| Stop::Many(job.stop.clone())),
        ..ChatRequest::default()
    };
    if let Some(s) = &job.sampling {
        req.temperature = Some(f64::from(s.temperature));
        if s.top_p < 1.0 {
            req.top_p = Some(f64::from(s.top_p));
        }
        if s.top_k > 0 {
            req.top_k = Some(s.top_k as i64);
        }
        if s.repetition_penalty != 1.0 {
            req.repetition_penalty = Some(f64::from(s.repetition_penalty));
        }
        if !s.is_greedy() {
            req.seed = Some(s.seed as i64);
        }
    }
    Ok(req)
}

/// The picture as `data:image/png;base64,…`, shrunk (keeping its shape) to at most `max_pixels`.
fn data_url(
    picture: &image::RgbImage,
    max_pixels: Option<usize>,
    index: usize,
) -> Result<String, RequestError> {
    let (w, h) = picture.dimensions();
    let area = w as usize * h as usize;
    let shrunk;
    let picture = match max_pixels {
        Some(max) if area > max && max > 0 => {
            let scale = (max as f64 / area as f64).sqrt();
            let nw = ((w as f64 * scale).floor() as u32).max(1);
            let nh = ((h as f64 * scale).floor() as u32).max(1);
            shrunk =
                image::imageops::resize(picture, nw, nh, image::imageops::FilterType::CatmullRom);
            &shrunk
        }
        _ => picture,
    };
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| RequestError::Encode {
            picture: index,
            reason: e.to_string(),
        })?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevision_engine::prompt::Message;
    use onevision_engine::sampler::SamplingParams;

    #[test]
    fn pictures_go_inline_and_text_only_messages_stay_strings() {
        let job = Job {
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message {
                    role: Role::User,
                    parts: vec![Part::Image(0), Part::Text("what?".into())],
                },
            ],
            pictures: vec![image::RgbImage::from_pixel(40, 10, image::Rgb([1, 2, 3]))],
            max_pixels: Some(100),
            sampling: Some(SamplingParams::default()),
            max_new_tokens: Some(7),
            stop: vec!["END".into()],
            ..Job::default()
        };
        let v = serde_json::to_value(chat_request(&job, "m").unwrap()).unwrap();
        assert_eq!(v["messages"][0]["content"], "be brief");
        let url = v["messages"][1]["content"][0]["image_url"]["url"]
            .as_str()
            .unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(url.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let sent = image::load_from_memory(&png).unwrap();
        // 400 pixels shrunk to at most 100, shape kept: 20x5.
        assert_eq!((sent.width(), sent.height()), (20, 5));
        assert_eq!(v["messages"][1]["content"][1]["text"], "what?");
        assert_eq!(v["temperature"], 0.0);
        assert!(v.get("seed").is_none() && v.get("top_k").is_none());
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["stop"], serde_json::json!(["END"]));
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
    }

    #[test]
    fn a_part_without_its_picture_is_an_error() {
        let job = Job {
            messages: vec![Message {
                role: Role::User,
                parts: vec![Part::Image(2)],
            }],
            ..Job::default()
        };
        let e = chat_request(&job, "m").unwrap_err().to_string();
        assert!(e.contains("picture 2"), "{e}");
    }
}
