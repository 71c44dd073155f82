#!/usr/bin/env bash
# The shipped adapter's evaluation (model card and README figures): the adapter against the base
# model, one fixed generic answer and the nearest training case, on the oncology test split of
# data/built and on the public OncoGPT questions with training near-duplicates removed.
# Needs: make setup; oncogpt data build --config configs/data/shared.yaml; ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/eval-shipped}
ONCO=".venv/bin/oncogpt"
PUBLIC=(--data ../shared/data/oncogpt_qa_public.json
        --labels ../shared/data/oncogpt_qa_public.labels.jsonl --train_data data/built)
SPLIT=(--data data/built --train_data data/built)
for set in split public; do
  if [ $set = split ]; then args=("${SPLIT[@]}"); else args=("${PUBLIC[@]}"); fi
  $ONCO eval "${args[@]}" --out "$OUT/$set/oncogpt" --name oncogpt
  $ONCO eval "${args[@]}" --adapter none --out "$OUT/$set/base" --name base
  $ONCO eval "${args[@]}" --answers generic --out "$OUT/$set/generic" --name generic
  $ONCO eval "${args[@]}" --answers nearest --out "$OUT/$set/nearest" --name nearest
  for yardstick in base generic nearest; do  # paired differences: oncogpt - yardstick
    $ONCO eval compare "$OUT/$set/$yardstick" "$OUT/$set/oncogpt" --out "$OUT/$set/vs-$yardstick"
  done
done
