"""The pieces of the fast CPU decoder (`oncogpt.fastdecode.FastDecoder`), one concern a module.

* `sampling`: the logits processors (transformers' rules on the top-k candidates only);
* `weights`: the linear layers' weight formats (dense bf16/fp32 prepacked, int8, int4);
* `runner`: the `Runner` protocol every model forward follows, and the static KV cache;
* `lean`: the lean LLaMA forward; `hf`: any causal LM through its own forward.

Imports go one way: `fastdecode` imports these; `lean` and `hf` import `weights` and `runner`;
`sampling`, `weights` and `runner` import nothing of OncoGPT's.
"""
