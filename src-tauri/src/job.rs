//! From a stored conversation and the settings panel to the engine's job: the student's words
//! wrapped in the model's prompt preset, every picture of the conversation decoded again (the
//! engine's vision cache makes repeats cheap), sampling defaults from the model folder.

use onevision_engine::generate::GenerationDefaults;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::transcribe::{attach_reading, Transcription};
use onevision_engine::worker::{Job, DEFAULT_MAX_NEW_TOKENS};
use onevision_store::{Conversation, MessageKind, MessageStatus};

use crate::dto::GenerationSettings;
use crate::error::{AppError, AppResult};

/// Below this a picture is a few patches and the model sees nothing (the processor's own
/// minimum is 56×56).
pub const MIN_MAX_PIXELS: usize = 56 * 56;

fn engine_role(r: onevision_store::Role) -> Role {
    match r {
        onevision_store::Role::System => Role::System,
        onevision_store::Role::User => Role::User,
        onevision_store::Role::Assistant => Role::Assistant,
    }
}

/// Sampling as the settings panel asks, each unset value from generation_config.json.
pub fn sampling(
    s: &GenerationSettings,
    defaults: &GenerationDefaults,
) -> AppResult<SamplingParams> {
    let d = &defaults.sampling;
    let params = SamplingParams {
        temperature: s.temperature.unwrap_or(d.temperature),
        top_p: s.top_p.unwrap_or(d.top_p),
        top_k: s.top_k.unwrap_or(d.top_k),
        repetition_penalty: s.repetition_penalty.unwrap_or(d.repetition_penalty),
        seed: s.seed.unwrap_or(d.seed),
    };
    // The engine's sentences name command-line flags; the panel's fields have the same names
    // without the dashes.
    params
        .validate()
        .map_err(|e| AppError::new(e.replacen("--", "", 1)))?;
    Ok(params)
}

/// The job for the reply being written at the end of `conversation`. Blocking: decodes the
/// conversation's pictures.
pub fn build(
    conversation: &Conversation,
    s: &GenerationSettings,
    defaults: &GenerationDefaults,
) -> AppResult<Job> {
    let max_new_tokens = s
        .max_new_tokens
        .or(defaults.max_new_tokens)
        .unwrap_or(DEFAULT_MAX_NEW_TOKENS);
    if max_new_tokens == 0 {
        return Err(AppError::new("max new tokens must be at least 1"));
    }
    if s.max_pixels < MIN_MAX_PIXELS {
        return Err(AppError::new(format!(
            "picture detail of {} pixels is too small; use at least {MIN_MAX_PIXELS}",
            s.max_pixels
        )));
    }
    let mut job = Job {
        sampling: Some(sampling(s, defaults)?),
        max_new_tokens: Some(max_new_tokens),
        max_pixels: Some(s.max_pixels),
        ..Job::default()
    };
    for m in &conversation.messages {
        // The reply being written now, and unfinished rows of other processes, are not input.
        if m.status == MessageStatus::Streaming {
            continue;
        }
        if m.kind == MessageKind::Transcription {
            // The question before it is shown as it was answered from this reading.
            if let Some(reading) = m.reading().and_then(Transcription::from_saved) {
                attach_reading(&mut job.messages, s.preset, &reading)?;
            }
            continue;
        }
        let Some(text) = m.prompt_text() else {
            continue;
        };
        let text = match m.role {
            onevision_store::Role::User => s.preset.wrap(&text),
            _ => text,
        };
        let mut parts = Vec::with_capacity(m.pictures.len() + 1);
        for p in &m.pictures {
            job.pictures
                .push(onevision_model::image::load_image(&p.path)?);
            parts.push(Part::Image(job.pictures.len() - 1));
        }
        parts.push(Part::Text(text));
        job.messages.push(Message {
            role: engine_role(m.role),
            parts,
        });
    }
    if job.messages.last().map(|m| m.role) != Some(Role::User) {
        return Err(AppError::new(
            "the conversation does not end with a question to answer",
        ));
    }
    Ok(job)
}

/// A server keeps its own defaults for what the settings leave unset: the sampling values (when
/// none is set) and the answer's length (a fixed cap could overrun a server's shorter context).
pub fn leave_to_server(job: &mut Job, s: &GenerationSettings) {
    let any_sampling = s.temperature.is_some()
        || s.top_p.is_some()
        || s.top_k.is_some()
        || s.repetition_penalty.is_some()
        || s.seed.is_some();
    if !any_sampling {
        job.sampling = None;
    }
    if s.max_new_tokens.is_none() {
        job.max_new_tokens = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevision_engine::preset::PromptPreset;
    use onevision_store::{NewMessage, PictureInput, Store};

    fn settings() -> GenerationSettings {
        GenerationSettings {
            temperature: None,
            top_p: None,
            top_k: None,
            repetition_penalty: None,
            max_new_tokens: None,
            seed: None,
            max_pixels: 1_003_520,
            preset: PromptPreset::R1Onevision,
        }
    }

    fn defaults() -> GenerationDefaults {
        GenerationDefaults {
            eos_token_ids: vec![2],
            sampling: SamplingParams {
                temperature: 0.6,
                top_p: 0.95,
                ..SamplingParams::default()
            },
            max_new_tokens: Some(77),
        }
    }

    fn png() -> Vec<u8> {
        let img = image::RgbImage::from_fn(40, 30, |x, _| image::Rgb([x as u8, 0, 0]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn a_stored_conversation_becomes_the_prompt_with_presets_and_pictures() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let first = NewMessage::user("What is the area?").with_picture(PictureInput::Bytes(png()));
        let id = store
            .create_conversation("m", vec![first])
            .await
            .unwrap()
            .conversation;
        let mut w = store.begin_reply(id, None).await.unwrap();
        w.push_think("Half base times height").await.unwrap();
        w.push_answer("6").await.unwrap();
        w.finish(onevision_store::Finish::complete(Default::default()))
            .await
            .unwrap();
        store
            .append_messages(id, vec![NewMessage::user("And the perimeter?")])
            .await
            .unwrap();
        let _open_reply = store.begin_reply(id, None).await.unwrap();
        let c = store.get_conversation(id).await.unwrap();

        let job = build(&c, &settings(), &defaults()).unwrap();
        assert_eq!(job.pictures.len(), 1);
        assert_eq!(job.pictures[0].dimensions(), (40, 30));
        assert_eq!(
            job.messages.len(),
            3,
            "the open reply is not part of the prompt"
        );
        assert_eq!(
            job.messages[0].parts,
            vec![
                Part::Image(0),
                Part::Text(PromptPreset::R1Onevision.wrap("What is the area?"))
            ]
        );
        assert_eq!(
            job.messages[1].parts,
            vec![Part::Text("<think>Half base times height</think>6".into())]
        );
        assert_eq!(job.max_new_tokens, Some(77));
        let s = job.sampling.unwrap();
        assert_eq!((s.temperature, s.top_p), (0.6, 0.95));
    }

    #[tokio::test]
    async fn a_question_answered_from_a_transcription_is_shown_as_it_was_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let first = NewMessage::user("What is AC?").with_picture(PictureInput::Bytes(png()));
        let id = store
            .create_conversation("m", vec![first])
            .await
            .unwrap()
            .conversation;
        let mut reading = store.begin_transcription(id, None).await.unwrap();
        reading.push_answer("Kind: geometry\nAB = 3").await.unwrap();
        let reading_id = reading.message_id();
        reading
            .finish(onevision_store::Finish::complete(Default::default()))
            .await
            .unwrap();
        store
            .correct_transcription(reading_id, "Kind: geometry\nAB = 6")
            .await
            .unwrap();
        let mut w = store.begin_reply(id, None).await.unwrap();
        w.push_answer("AC = 10").await.unwrap();
        w.finish(onevision_store::Finish::complete(Default::default()))
            .await
            .unwrap();
        store
            .append_messages(id, vec![NewMessage::user("Why?")])
            .await
            .unwrap();
        let c = store.get_conversation(id).await.unwrap();

        let job = build(&c, &settings(), &defaults()).unwrap();
        let preset = PromptPreset::R1Onevision;
        let texts: Vec<Vec<Part>> = job.messages.iter().map(|m| m.parts.clone()).collect();
        let expected = onevision_engine::transcribe::second_pass(
            &[Message {
                role: Role::User,
                parts: vec![Part::Image(0), Part::Text(preset.wrap("What is AC?"))],
            }],
            preset,
            &Transcription::from_saved("Kind: geometry\nAB = 6").unwrap(),
        )
        .unwrap();
        assert_eq!(job.messages[..3], expected[..], "{texts:?}");
        assert_eq!(job.messages[3].parts, vec![Part::Text("AC = 10".into())]);
        assert_eq!(job.messages[4].parts, vec![Part::Text(preset.wrap("Why?"))]);
        assert_eq!(job.messages.len(), 5);
    }

    #[test]
    fn panel_values_override_defaults_and_bad_ones_are_named() {
        let mut s = settings();
        s.temperature = Some(0.0);
        s.top_k = Some(20);
        let p = sampling(&s, &defaults()).unwrap();
        assert_eq!((p.temperature, p.top_k, p.top_p), (0.0, 20, 0.95));
        s.top_p = Some(1.5);
        let e = sampling(&s, &defaults()).unwrap_err().to_string();
        assert!(e.starts_with("top-p must be in (0, 1]"), "{e}");
        assert!(!e.contains("--"), "{e}");
    }
}
