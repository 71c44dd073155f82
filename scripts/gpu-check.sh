#!/usr/bin/env bash
# Runs the GPU path on a GPU machine and prints a table to record in docs/training.md:
# a few optimizer steps of the 7B preset's code path (configs/train/oncogpt-7b.yaml: two stages,
# its LoRA setup and template) on a small LLaMA-family model in bf16, fp16, 4-bit, with
# gradient checkpointing, in merge mode and with torchrun on 2 GPUs where there are 2; the
# refusal of several GPUs without torchrun; and GPU inference through `ask` and `serve`.
#
#   scripts/gpu-check.sh                      # MODEL=default: SmolLM2-135M (LlamaForCausalLM)
#   MODEL=/path/to/llama-folder scripts/gpu-check.sh
#   MODEL=tiny scripts/gpu-check.sh           # a tiny random LLaMA (no model package needed)
#
# Each check is one row: ok / FAIL / skipped (and why), seconds, and what it measured. Logs of
# every step are kept in $WORK (printed at the end). Exit status: 1 if any check failed.
# DEVICE=cpu MODEL=tiny STEPS=1 runs the same steps on a CPU: a dry run of this script only
# (fp16 and bitsandbytes rows then fail or skip, as they must there).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
MODEL=${MODEL:-default}
STEPS=${STEPS:-3}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-$(mktemp -d -t oncogpt-gpu-check.XXXXXX)}
mkdir -p "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
ROWS="$WORK/rows.tsv"
: >"$ROWS"
FAILED=0

row() { # name status seconds detail
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$ROWS"
  [ "$2" = FAIL ] && FAILED=1
  printf '%-34s %-8s %6ss  %s\n' "$1" "$2" "$3" "$4" >&2
}

GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)" 2>/dev/null || echo 0)
if [ "$GPUS" = 0 ] && [ "$DEVICE" != cpu ]; then
  echo "gpu-check: torch sees no CUDA GPU ($PY); nothing to check here" >&2
  exit 2
fi
HAS_BNB=$("$PY" -c "import importlib.util as u; print(int(u.find_spec('bitsandbytes') is not None))")
"$PY" - >"$WORK/machine.txt" <<'EOF'
import torch, transformers, peft
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    gpu = f"{torch.cuda.device_count()} x {p.name} ({p.total_memory >> 30} GiB, sm_{p.major}{p.minor})"
else:
    gpu = "no GPU (dry run on the CPU)"
print(f"{gpu}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"transformers {transformers.__version__}, peft {peft.__version__}")
EOF

# --- the model and the data ---------------------------------------------------------------
if [ "$MODEL" = tiny ]; then
  "$PY" - "$WORK/tiny" <<'EOF'
import sys
from tests.conftest import build_tiny_llama, build_tokenizer
tok = build_tokenizer()
build_tiny_llama(tok).save_pretrained(sys.argv[1], safe_serialization=True)
tok.save_pretrained(sys.argv[1])
EOF
  MODEL="$WORK/tiny"
  CUTOFF=${CUTOFF:-1024}  # its toy tokenizer spends many tokens on real text
fi
cat >"$WORK/data.yaml" <<EOF
output_dir: $WORK/data
val_set_size: 64
test_size: 0
tokenizer: null
sources:
  - {path: starter, format: conversations, stage: general}
  - {path: corpus, format: conversations, stage: oncology, sample: 400}
EOF
"$PY" -m oncogpt data build --config "$WORK/data.yaml" >"$WORK/data.log" 2>&1 \
  || { echo "gpu-check: data build failed, see $WORK/data.log" >&2; exit 1; }

# The 7B preset with only what must change for a quick run: model, data, steps, outputs.
"$PY" - configs/train/oncogpt-7b.yaml "$WORK/train.yaml" "$MODEL" "$WORK/data" "$STEPS" "${CUTOFF:-}" <<'EOF'
import sys, yaml
preset, out, model, data, steps, cutoff = sys.argv[1:]
c = yaml.safe_load(open(preset))
c.update(base_model=model, data_path=data, max_steps=int(steps), val_set_size=32,
         warmup_steps=0, eval_steps=0, save_steps=1000, logging_steps=1, batch_size=16,
         stages=[{"name": "general"}, {"name": "oncology"}])
if cutoff:
    c["cutoff_len"] = int(cutoff)
yaml.safe_dump(c, open(out, "w"))
EOF

# --- training -------------------------------------------------------------------------------
# One process, through the CLI, reporting its peak GPU memory.
PEAK='import sys, torch
from oncogpt.cli import main
code = main(sys.argv[1:])
print(f"PEAK_MIB {torch.cuda.max_memory_allocated() >> 20 if torch.cuda.is_available() else 0}")
sys.exit(code)'

loss_of() { # run folder -> "val a -> b" of the last stage
  "$PY" -c "import json,sys; m=json.load(open(sys.argv[1]+'/oncology/metrics.json'))
print(f\"val {m.get('start_eval_loss', float('nan')):.3f}->{m.get('eval_loss', float('nan')):.3f}, {m['steps']} steps\")" "$1" 2>/dev/null
}

train_check() { # run-folder name, row name, needs bitsandbytes (0/1), extra flags...
  local slug=$1 name=$2 needs_bnb=$3; shift 3
  if [ "$needs_bnb" = 1 ] && [ "$HAS_BNB" = 0 ]; then
    row "$name" skipped 0 "bitsandbytes not installed (pip install 'oncogpt[gpu]')"; return
  fi
  local out="$WORK/runs/$slug" t0=$SECONDS
  if CUDA_VISIBLE_DEVICES=0 "$PY" -c "$PEAK" train --config "$WORK/train.yaml" --output_dir "$out" "$@" \
    >"$WORK/$slug.log" 2>&1 && [ -f "$out/oncology/adapter/adapter_model.safetensors" ]; then
    row "$name" ok $((SECONDS - t0)) "$(loss_of "$out"), peak $(grep -o 'PEAK_MIB [0-9]*' "$WORK/$slug.log" | cut -d' ' -f2) MiB"
  else
    row "$name" FAIL $((SECONDS - t0)) "$(grep -v PEAK_MIB "$WORK/$slug.log" | tail -n 1 | cut -c1-150)"
  fi
}

train_check bf16 "train bf16 (the 7B preset's path)" 0 --precision bf16
train_check fp16 "train fp16 (fp16 base)" 0 --precision fp16
train_check bf16-gc "train bf16 + gradient checkpointing" 0 --precision bf16 --gradient_checkpointing true
train_check bf16-merge "train bf16, stage_mode merge" 0 --precision bf16 --stage_mode merge
train_check nf4 "train 4-bit NF4 (QLoRA)" 1 --load_in_4bit true --precision auto
train_check int8 "train 8-bit" 1 --load_in_8bit true --precision auto

if [ "$GPUS" -ge 2 ]; then
  t0=$SECONDS
  if CUDA_VISIBLE_DEVICES=0,1 "$PY" -m oncogpt train --config "$WORK/train.yaml" \
    --output_dir "$WORK/runs/one-process" >"$WORK/refusal.log" 2>&1; then
    row "2 GPUs without torchrun refused" FAIL $((SECONDS - t0)) "it trained"
  elif grep -q "launch one process per GPU" "$WORK/refusal.log"; then
    row "2 GPUs without torchrun refused" ok $((SECONDS - t0)) "one-line error naming torchrun"
  else
    row "2 GPUs without torchrun refused" FAIL $((SECONDS - t0)) "$(tail -n 1 "$WORK/refusal.log" | cut -c1-150)"
  fi
  for mode in continue merge; do
    for quant in none 4bit; do
      name="torchrun 2 GPUs, $mode, $quant"
      [ "$quant" = 4bit ] && [ "$HAS_BNB" = 0 ] && { row "$name" skipped 0 "no bitsandbytes"; continue; }
      extra=(); [ "$quant" = 4bit ] && extra=(--load_in_4bit true)
      [ "$quant" = 4bit ] && [ "$mode" = merge ] && { row "$name" skipped 0 "refused by design"; continue; }
      out="$WORK/runs/ddp-$mode-$quant"; t0=$SECONDS
      if CUDA_VISIBLE_DEVICES=0,1 "$PY" -m torch.distributed.run --nproc_per_node 2 -m oncogpt train \
        --config "$WORK/train.yaml" --output_dir "$out" --stage_mode "$mode" "${extra[@]}" \
        >"$WORK/ddp-$mode-$quant.log" 2>&1 && [ -d "$out/oncology/adapter" ]; then
        row "$name" ok $((SECONDS - t0)) "$(loss_of "$out")"
      else
        row "$name" FAIL $((SECONDS - t0)) "$(tail -n 1 "$WORK/ddp-$mode-$quant.log" | cut -c1-150)"
      fi
    done
  done
else
  row "torchrun 2 GPUs" skipped 0 "only $GPUS GPU visible"
fi

# --- inference ------------------------------------------------------------------------------
ADAPTER="$WORK/runs/bf16/oncology/adapter"
[ -d "$ADAPTER" ] || ADAPTER=none
QUESTION="My father has small cell lung cancer. He started chemotherapy yesterday. What should we watch for?"

t0=$SECONDS
if CUDA_VISIBLE_DEVICES=0 "$PY" -m oncogpt ask --model "$MODEL" --adapter "$ADAPTER" --device "$DEVICE" \
  --greedy true --max-new-tokens 48 "$QUESTION" >"$WORK/ask.log" 2>&1 && grep -q "^OncoGPT:" "$WORK/ask.log"; then
  row "ask --device $DEVICE" ok $((SECONDS - t0)) "$(grep -m1 '^OncoGPT:' "$WORK/ask.log" | cut -c1-90)"
else
  row "ask --device $DEVICE" FAIL $((SECONDS - t0)) "$(tail -n 1 "$WORK/ask.log" | cut -c1-150)"
fi

# The engine the CLI builds: where the weights are, in what dtype, which decoder, tokens/s.
t0=$SECONDS
if CUDA_VISIBLE_DEVICES=0 "$PY" - "$MODEL" "$ADAPTER" "$DEVICE" >"$WORK/engine.log" 2>&1 <<'EOF'
import sys, time, torch
from oncogpt.conversation import Conversation
from oncogpt.generate import Engine, SamplingConfig
engine = Engine.load(sys.argv[1], sys.argv[2], device="auto", dtype="auto")
p = next(engine.model.parameters())
want = ("cuda", "plain") if sys.argv[3] == "cuda" else ("cpu", "fast")
assert (p.device.type, engine.decoder) == want, (p.device, engine.decoder)
if not torch.cuda.is_available():
    torch.cuda.synchronize = lambda: None
    torch.cuda.max_memory_allocated = lambda: 0
sampling = SamplingConfig(greedy=True, max_new_tokens=64, whole_sentences=False)
convs = [Conversation.single(f"Question {i}: what are the side effects of cisplatin?") for i in range(8)]
engine.answer_batch(convs[:1], sampling)  # warm-up
torch.cuda.synchronize(); t = time.perf_counter()
answers = engine.answer_batch(convs, sampling)
torch.cuda.synchronize(); dt = time.perf_counter() - t
n = sum(len(engine.tokenizer(a).input_ids) for a in answers)
print(f"RESULT {p.device} {str(p.dtype).replace('torch.', '')}, decoder {engine.decoder}, "
      f"template {engine.template.name}, batch of 8: {n / dt:.0f} tokens/s, "
      f"{torch.cuda.max_memory_allocated() >> 20} MiB")
EOF
then
  row "engine, --device auto (batch)" ok $((SECONDS - t0)) "$(grep -o 'RESULT .*' "$WORK/engine.log" | cut -c8-)"
else
  row "engine, --device auto (batch)" FAIL $((SECONDS - t0)) "$(tail -n 1 "$WORK/engine.log" | cut -c1-150)"
fi

PORT=${PORT:-8765}
t0=$SECONDS
CUDA_VISIBLE_DEVICES=0 "$PY" -m oncogpt serve --model "$MODEL" --adapter "$ADAPTER" --device "$DEVICE" \
  --port "$PORT" --log-level warning >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 1
done
BODY='{"model": "oncogpt", "max_tokens": 32, "temperature": 0, "messages": [{"role": "user", "content": "What is chemotherapy?"}]}'
plain=$(curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' -d "$BODY")
streamed=$(curl -sfN "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "${BODY%\}}, \"stream\": true}" | grep -c '^data:')
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null
if echo "$plain" | grep -q '"content"' && [ "${streamed:-0}" -gt 2 ]; then
  row "serve --device $DEVICE" ok $((SECONDS - t0)) "completion + stream ($streamed events)"
else
  row "serve --device $DEVICE" FAIL $((SECONDS - t0)) "$(echo "$plain" | cut -c1-100) $(tail -n 1 "$WORK/serve.log" | cut -c1-80)"
fi

# --- the table ------------------------------------------------------------------------------
echo
echo "Machine: $(cat "$WORK/machine.txt"); model: $MODEL; $STEPS steps per stage"
echo
echo "| check | result | seconds | detail |"
echo "|---|---|---|---|"
while IFS=$'\t' read -r name status secs detail; do
  echo "| $name | $status | $secs | $detail |"
done <"$ROWS"
echo
echo "logs: $WORK"
exit "$FAILED"
