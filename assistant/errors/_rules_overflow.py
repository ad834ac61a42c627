"""Context overflow in words, the way every vendor says it, and the limits that only look like one.

Three tables, tried in this order among the phrase rules:

- ``STATED_OVERFLOW``: the message measures the prompt (or prompt plus output) against the model's window
  in tokens, or names the window ("context length", "max_model_len", "n_ctx", "maximum sequence length").
  Any status: llama.cpp and DeepInfra say it with HTTP 500.
- ``NOT_OVERFLOW``: other caps that share the words - the output budget on its own, one field's string
  or array length, request body, image and upload sizes, character caps of embedding servers, batch sizes.
  They are the caller's mistake (``bad_request``); a smaller history would not fix them.
- ``WORDED_OVERFLOW``: overflow said without numbers or window words ("prompt is too long").

Per-minute token limits and money are matched before all three (see ``_rules``).
"""

from __future__ import annotations

from ._rule import Rule, any_of, rule

__all__ = ["STATED_OVERFLOW", "NOT_OVERFLOW", "WORDED_OVERFLOW"]

# The model's window, in the names servers give it.
_WINDOW = any_of(
    r"context[ _-]?(?:window|length|size|limit)",
    r"\bn_ctx\b", r"max_model_len", r"max_seq_len", r"max_input_len", r"max_num_tokens", r"max_position_embeddings",
    r"max(?:imum)? (?:model|sequence|context) length", r"max(?:imum)? (?:input|prompt) tokens",
    r"maximum number of tokens",
)
# "is longer than", "exceeds", "> " ... the words that put a size over a limit.
_OVER = any_of(
    r"exceed(?:s|ed|ing)?", r"overflows?", r"(?:is |are )?(?:longer|greater|larger|more) than", r"too (?:long|large|small)",
    r"not enough", r"beyond", r"(?<=\d)\s*>=?",
)
# "max_tokens (8192) is greater than the context length": the output budget alone, said against the window.
_OUTPUT_SUBJECT = r"\bmax_?(?:completion_|new_|output_)?tokens\b[`'\"]?\s*(?:\(\d+\)\s*)?(?:is|are|must|should|exceeds?|cannot)\b"

STATED_OVERFLOW: tuple[Rule, ...] = (
    # OpenAI / DeepSeek / vLLM / Groq / NVIDIA NIM / Azure: "This model's maximum context length is 131072 tokens.
    # However, you requested 133034 tokens (125034 in the messages, 8000 in the completion)."; OpenRouter "This
    # endpoint's maximum context length is ..."; SambaNova "The maximum context length of DeepSeek-V3-0324 is 32768.
    # However, answering your request will take 39732 tokens."; "This model's maximum context length has been
    # exceeded."; Mistral "too large for model with 32768 maximum context length"; mlx-serve "Prompt exceeds maximum
    # context length"; Ollama "prompt too long; exceeded max context length by 100 tokens".
    rule("context_overflow", phrase=r"max(?:imum)? context (?:length|window|size)|maximum prompt length"),
    # A size over the window. llama.cpp "request (355724 tokens) exceeds the available context size (262144
    # tokens)"; SGLang "The input (61709 tokens) is longer than the model's context length (40960 tokens)"; vLLM "The
    # decoder prompt (length 163840) is longer than the maximum model length of 131072"; TabbyAPI "Request length
    # 71599 + 2048 is greater than max_seq_len 65536"; llama-cpp-python "Requested tokens (2285) exceed context window
    # of 2048"; LocalAI "The prompt size exceeds the context window size"; LM Studio "(n_keep: 10136>= n_ctx: 7866)";
    # MiniMax "context window exceeds limit (2013)"; Ollama "the input length exceeds the context length".
    rule("context_overflow", phrase=rf"(?:{_OVER})[^.\n]{{0,80}}?(?:{_WINDOW})|(?:{_WINDOW})[^.\n]{{0,40}}?(?:{_OVER}|has been exceeded)",
         unless=_OUTPUT_SUBJECT),
    # The window stated as what is left. vLLM / NVIDIA NIM: "You passed 170753 input tokens and requested 32000
    # output tokens. However, the model's context length is only 202752 tokens"; LM Studio "the model is loaded with
    # context length of only 7866 tokens" (also when the prompt was counted in characters).
    rule("context_overflow", phrase=rf"(?:{_WINDOW})\)?\s*(?:is|of)\s+only\b"),
    # SiliconFlow: "length of prompt_tokens (57535) must be less than max_seq_len (32768)"
    rule("context_overflow", phrase=rf"(?:must|should) be (?:less|smaller) than (?:the )?(?:{_WINDOW})"),
    # A token count over a limit. Anthropic / Bedrock "prompt is too long: 200049 tokens > 200000 maximum";
    # SGLang "Input length (160062 tokens) exceeds the maximum allowed length (59862 tokens)"; Gemini / Vertex "The
    # input token count (25270) exceeds the maximum number of tokens allowed (4000)"; GitHub Copilot "prompt token
    # count of 93854 exceeds the limit of 90000".
    rule("context_overflow", phrase=any_of(
        r"\d[\d,]*\s*(?:input |prompt )?tokens?\)?\s*(?:>|exceed(?:s|ed)?\b|is (?:longer|greater|more) than|is too long)",
        r"(?:prompt|input) token count[^.\n]{0,30}?(?:exceed|>|greater than)",
    )),
    # The server's limit on the input, by name. DeepInfra (HTTP 500) "Requested input length 99009 exceeds
    # maximum input length 8192"; Triton / TensorRT-LLM "exceeds maximum sequence length" (also "maximum input
    # length"), but not a limit counted in characters or bytes.
    rule("context_overflow", phrase=rf"(?:{_OVER})[^.\n]{{0,40}}?max(?:imum)? (?:input|prompt) length",
         unless=r"characters|bytes"),
    # The prompt's length given as a number, then put over something: "Prompt length (5000) exceeds maximum
    # sequence length (4096)", "Request length 71599 + 2048 is greater than ...".
    rule("context_overflow", phrase=r"(?:prompt|input|request) length\s*\(?\d+[^.\n]{0,20}?(?:exceeds?|is (?:greater|longer) than)",
         unless=r"characters|bytes"),
    # Prompt plus the output budget over the window. TGI / Hugging Face / Together "Input validation error:
    # `inputs` tokens + `max_new_tokens` must be <= 4097. Given: 80125 `inputs` tokens and 4096 `max_new_tokens`"
    # (also typed "`inputs` tokens + `max_new_tokens`  must be <= 1512"); Anthropic "input length and `max_tokens`
    # exceed context limit: 199759 + 8192 > 200000".
    rule("context_overflow", phrase=any_of(
        r"\+\s*`?max_new_tokens`?\s+must be\s*<=", r"exceed context limit", r"\d+\s*\+\s*\d+\s*>\s*\d+",
    )),
    # Cohere: "too many tokens: total number of tokens (prompt and prediction) cannot exceed 2048 - received 6354.
    # Try using a shorter prompt or a smaller max_tokens value."
    rule("context_overflow", phrase=r"number of tokens[^.\n]{0,40}?(?:cannot|must not|may not|can't) exceed"),
    # TGI: "Input validation error: `inputs` must have less than 4096 tokens. Given: 4545" (TEI says the same of
    # characters, which is a cap of its own).
    rule("context_overflow", phrase=r"must have less than \d+ tokens"),
    # DashScope / Qwen: "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 204800]"
    rule("context_overflow", phrase=r"range of input (?:length|tokens)|input (?:length|tokens?) (?:should|must) be (?:in |within )?\[\d"),
)

NOT_OVERFLOW: tuple[Rule, ...] = (
    # The output budget on its own. DeepSeek "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]";
    # Groq "`max_completion_tokens` must be less than or equal to `16384`, the maximum value for
    # `max_completion_tokens` is less than the `context_window` for this model"; Vertex "maxOutputTokens value of
    # 65536 but the supported range is from 1 (inclusive) to 65536 (exclusive)"; Volcengine "The parameter
    # `max_tokens` ... expected a value <= 4096"; Anthropic "max_tokens: 21333 > 4096, which is the maximum allowed
    # number of output tokens"; Fireworks "Requests with max_tokens > 4096 must have stream=true".
    rule("bad_request", phrase=any_of(
        r"\bmax_?(?:completion_|new_|output_)?tokens\b", r"maxOutputTokens", r"max(?:imum)? (?:output|completion) tokens",
    ), unless=r"(?:prompt|input) (?:is )?too long"),
    # One field's cap. OpenAI / Copilot "Invalid 'messages[21].tool_calls': array too long. Expected an array with
    # maximum length 128"; Anthropic "tool_use.name: String should have at most 200  characters"; Bedrock Titan
    # "Malformed input request: expected maxLength: 42000, actual: 46735".
    rule("bad_request", phrase=any_of(
        r"(?:string|array|list) too long", r"should have at most \d+\s+(?:characters|items)", r"\bmaxLength\b",
        r"(?:string|array|list) with maximum length", r"field \w+ too long", r"string value length",
    )),
    # Sizes that are not tokens. Anthropic 413 "Request exceeds the maximum size"; Anthropic "image exceeds 5 MB
    # maximum: 8259148 bytes > 5242880 bytes"; "At least one of the image dimensions exceed max allowed size: 8000
    # pixels"; Bedrock "Value at 'body' failed to satisfy constraint: Member must have length less than or equal to
    # 25000000".
    rule("bad_request", phrase=any_of(
        r"exceeds the maximum size", r"\d+\s*bytes\b", r"(?:exceeds?|max(?:imum)?|limit)[^.\n]{0,20}?\b\d+\s*[KMG]i?B\b",
        r"\bpixels\b", r"value at 'body'",
        r"request entity too large", r"payload (?:size|too large)",
    )),
    # Embedding servers' caps on characters and batches. TEI "`inputs` must have less than 32000 characters";
    # Jina "input length is larger than the largest allowed size 2048"; Mistral embed "Too many tokens in batch.
    # Max is 16384 got 17555".
    rule("bad_request", phrase=any_of(
        r"\d+\s+characters\b", r"largest allowed size", r"\bin (?:a |the )?batch\b", r"at most \d+ (?:items|inputs|texts)",
    )),
)

WORDED_OVERFLOW: tuple[Rule, ...] = (
    # Anthropic "prompt is too long"; Bedrock "Input is too long for requested model."; Qianfan "prompt tokens too
    # long"; Z.ai 1261 "Prompt exceeds max length"; LM Studio (MLX) "Context size has been exceeded"; Cohere "too
    # many tokens: size limit exceeded by 1502 tokens"; OpenAI "Please reduce the length of the messages"; LiteLLM
    # "ContextWindowExceededError"; ik_llama.cpp (HTTP 500) "context shift is disabled"; Moonshot "Your request
    # exceeded model token limit"; claude-code-hub "输入内容过长，请减少 Prompt 中的 token 数量后重试".
    rule("context_overflow", phrase=any_of(
        r"(?:prompt|input)(?:[ _]tokens?)? (?:is |are )?too (?:long|large)", r"prompt_too_long",
        r"prompt exceeds max(?:imum)? length", r"(?:number of )?(?:input|prompt) tokens? (?:exceeds?|exceeded)\b", r"context[_ ]length[_ ]exceeded", r"context size has been exceeded",
        r"too many tokens:", r"too many (?:input|prompt) tokens", r"reduce the length of the (?:messages|prompt|input)", r"ContextWindowExceeded",
        r"context shift is disabled", r"exceeded model token limit", r"too long to fit into the model",
        r"request body too large for", r"(?:输入|提示|上下文|prompt)[^。\n]{0,10}过长", r"请求的?上下文长度",
        r"超出.{0,6}(?:上下文|最大长度)",
    )),
)
