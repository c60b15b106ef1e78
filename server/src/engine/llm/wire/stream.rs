//! A streamed chat completion: `chat.completion.chunk` deltas sent as server-sent events
//! (WHATWG HTML §9.2), ended by `data: [DONE]`, assembled into one [`Completion`].

use super::{Answer, Completion, Role, ToolCall, function_type};

/// Builds a [`Completion`] from a stream's bytes as they arrive, handing each piece of
/// text to the caller as soon as its event is complete.
#[derive(Default)]
pub struct StreamAssembler {
    buffer: Vec<u8>,
    done: bool,
    completion: Completion,
    /// Chunks that carried text or a piece of a tool call: one token each from llama.cpp
    /// and OpenAI, the count of a stream that reports no usage.
    pieces: u64,
}

impl StreamAssembler {
    /// Takes the next bytes; returns the text the completed events added.
    pub fn push(&mut self, bytes: &[u8]) -> Result<String, String> {
        self.buffer.extend_from_slice(bytes);
        let mut text = String::new();
        // Events end at a blank line; lines end in LF, CRLF or CR (SSE §9.2.5). Only
        // `data:` lines matter here; a multi-line event's data lines join with LF.
        while let Some(end) = event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..end.1).take(end.0).collect();
            let event = String::from_utf8(event).map_err(|_| "an event is not UTF-8")?;
            let data: Vec<&str> = event
                .split(['\n', '\r'])
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            let data = data.join("\n");
            if data.trim() == "[DONE]" {
                self.done = true;
                continue;
            }
            text.push_str(&self.chunk(&data)?);
        }
        Ok(text)
    }

    fn chunk(&mut self, data: &str) -> Result<String, String> {
        let answer: Answer = serde_json::from_str(data)
            .map_err(|e| format!("a streamed chunk is not a completion chunk: {e}"))?;
        if let Some(usage) = answer.usage {
            self.completion.usage = Some(usage.into());
        }
        if answer.model.is_some() {
            self.completion.model = answer.model;
        }
        let mut text = String::new();
        for choice in answer.choices {
            if choice.finish_reason.is_some() {
                self.completion.finish_reason = choice.finish_reason;
            }
            let Some(delta) = choice.delta else { continue };
            if !delta.content.is_empty() || !delta.tool_calls.is_empty() {
                self.pieces += 1;
            }
            text.push_str(&delta.content);
            let calls = &mut self.completion.message.tool_calls;
            for piece in delta.tool_calls {
                // Without an index, a piece with an id starts a call, others continue it.
                let index = piece.index.unwrap_or(match piece.id {
                    Some(_) => calls.len(),
                    None => calls.len().saturating_sub(1),
                });
                if index > calls.len() || index > 127 {
                    return Err(format!("a streamed tool call skips to index {index}"));
                }
                if index == calls.len() {
                    calls.push(ToolCall {
                        kind: function_type(),
                        ..ToolCall::default()
                    });
                }
                let call = &mut calls[index];
                if let Some(id) = piece.id {
                    call.id = id;
                }
                if let Some(function) = piece.function {
                    // OpenAI names the function in the first piece only; llama.cpp repeats
                    // the whole name in every piece. A differing name continues a split one.
                    match function.name {
                        Some(name) if name != call.function.name => {
                            call.function.name.push_str(&name);
                        }
                        _ => {}
                    }
                    call.function.arguments.push_str(&function.arguments);
                }
            }
        }
        self.completion.message.content.push_str(&text);
        Ok(text)
    }

    /// How many chunks carried a piece of the answer.
    pub fn pieces(&self) -> u64 {
        self.pieces
    }

    /// The assembled answer; an error when the stream ended before `[DONE]` or a finish.
    pub fn finish(mut self) -> Result<Completion, String> {
        if !self.buffer.iter().all(u8::is_ascii_whitespace) {
            self.push(b"\n\n")?;
        }
        if !self.done && self.completion.finish_reason.is_none() {
            return Err("the stream ended before the answer did".into());
        }
        self.completion.message.role = Role::Assistant;
        Ok(self.completion)
    }
}

/// Where the first complete event ends: (its length, the length with its blank line).
fn event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let separators: [&[u8]; 3] = [b"\r\n\r\n", b"\n\n", b"\r\r"];
    separators
        .iter()
        .filter_map(|sep| {
            buffer
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|at| (at, at + sep.len()))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_assembled_however_it_is_cut() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
            ": a comment\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",",
            "\"function\":{\"name\":\"math__add\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,",
            "\"function\":{\"arguments\":\": 1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n",
        );
        // Every cut of the bytes gives the same answer and the same text pieces in all.
        for cut in [1, 2, 7, 64, stream.len()] {
            let mut assembler = StreamAssembler::default();
            let mut text = String::new();
            for piece in stream.as_bytes().chunks(cut) {
                text.push_str(&assembler.push(piece).unwrap());
            }
            let completion = assembler.finish().unwrap();
            assert_eq!(text, "Hello");
            assert_eq!(completion.message.content, "Hello");
            assert_eq!(completion.message.tool_calls.len(), 1);
            let call = &completion.message.tool_calls[0];
            assert_eq!(
                (call.id.as_str(), call.function.name.as_str()),
                ("c1", "math__add")
            );
            assert_eq!(call.function.arguments, "{\"a\": 1}");
            assert_eq!(completion.finish_reason.as_deref(), Some("tool_calls"));
            assert_eq!(completion.usage.unwrap().total(), 10);
        }
    }

    #[test]
    fn a_llama_cpp_stream_repeats_names_and_sends_nulls() {
        let piece = |args: &str| {
            format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":null,\"function_call\":null,\
                 \"tool_calls\":[{{\"index\":0,\"id\":\"c\",\"type\":\"function\",\
                 \"function\":{{\"name\":\"fx__t\",\"arguments\":\"{args}\"}}}}]}}}}]}}\n\n"
            )
        };
        let mut assembler = StreamAssembler::default();
        let start =
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"tool_calls\":null}}]}\n\n";
        assembler.push(start.as_bytes()).unwrap();
        for args in ["{", " ", "}"] {
            assembler.push(piece(args).as_bytes()).unwrap();
        }
        assembler.push(b"data: [DONE]\n\n").unwrap();
        let completion = assembler.finish().unwrap();
        let call = &completion.message.tool_calls[0];
        assert_eq!(call.function.name, "fx__t");
        assert_eq!(call.function.arguments, "{ }");
    }

    #[test]
    fn a_cut_or_garbled_stream_is_an_error_not_a_panic() {
        let mut cut = StreamAssembler::default();
        cut.push(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n")
            .unwrap();
        assert!(cut.finish().unwrap_err().contains("ended before"));
        let mut garbled = StreamAssembler::default();
        assert!(garbled.push(b"data: {not json\n\n").is_err());
        let mut skipping = StreamAssembler::default();
        let skip = b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":5}]}}]}\n\n";
        assert!(skipping.push(skip).unwrap_err().contains("index 5"));
        let mut bytes = StreamAssembler::default();
        assert!(bytes.push(b"data: \xff\xfe\n\n").is_err());
    }
}
