#!/usr/bin/env bash
# check_layering.sh — the includes of include/eigenformer/ against the layer order of docs/design.md.
#
#     tests/layering/check_layering.sh [path/to/include/eigenformer]
#
# Each folder may include only itself and the folders listed for it below (nothing low includes anything
# high); each module header at the top (core.hpp, layers.hpp, ...) only the folder it is named after; and
# eigenformer.hpp only module headers. Prints every include that breaks the order and exits 1 if there is one.
set -eu
root="${1:-$(dirname "$0")/../../include/eigenformer}"

# folder: the folders it may include (itself included). Keep in step with docs/design.md.
allowed() {
  case "$1" in
    core)       echo "core" ;;
    layers)     echo "core layers" ;;
    attention)  echo "core layers attention" ;;
    blocks)     echo "core layers attention blocks" ;;
    tokenizers) echo "core tokenizers" ;;
    models)     echo "core layers attention blocks models" ;;
    chat)       echo "core tokenizers chat" ;;
    generation) echo "core layers attention models tokenizers generation" ;;
    training)   echo "core layers attention blocks tokenizers chat models generation training" ;;
    inspect)    echo "core layers attention blocks tokenizers chat models generation inspect" ;;
    *)          echo "" ;;
  esac
}

status=0
checked=0
for dir in "$root"/*/; do
  folder="$(basename "$dir")"
  ok="$(allowed "$folder")"
  if [ -z "$ok" ]; then
    echo "layering: folder $folder/ has no place in the layer order (add it to check_layering.sh and docs/design.md)"
    status=1
    continue
  fi
  for header in "$dir"*.hpp; do
    checked=$((checked + 1))
    # Every "eigenformer/<x>/..." or "eigenformer/<x>.hpp" this header includes.
    for target in $(grep -oE '^#include ["<]eigenformer/[a-z_]+(/|\.hpp)' "$header" | sed -E 's|.*eigenformer/([a-z_]+).*|\1|'); do
      case " $ok " in
        *" $target "*) ;;
        *) echo "layering: $folder/$(basename "$header") includes $target/, which is not below $folder/"; status=1 ;;
      esac
    done
  done
done

for module in core layers attention blocks tokenizers chat models generation training inspect; do
  header="$root/$module.hpp"
  if [ ! -f "$header" ]; then
    echo "layering: the module header $module.hpp is missing"
    status=1
    continue
  fi
  checked=$((checked + 1))
  for include in $(grep -oE '^#include ["<]eigenformer/[^">]+' "$header" | sed -E 's|^#include ["<]||'); do
    case "$include" in
      eigenformer/"$module"/*) ;;
      *) echo "layering: $module.hpp includes $include, outside $module/"; status=1 ;;
    esac
  done
done

checked=$((checked + 1))
for include in $(grep -oE '^#include ["<]eigenformer/[^">]+' "$root/eigenformer.hpp" | sed -E 's|^#include ["<]||'); do
  case "$include" in
    eigenformer/core.hpp | eigenformer/layers.hpp | eigenformer/attention.hpp | eigenformer/blocks.hpp | \
      eigenformer/tokenizers.hpp | eigenformer/chat.hpp | eigenformer/models.hpp | eigenformer/generation.hpp | \
      eigenformer/training.hpp | eigenformer/inspect.hpp) ;;
    *) echo "layering: eigenformer.hpp includes $include, not a module header"; status=1 ;;
  esac
done

if [ "$status" -eq 0 ]; then echo "layering: $checked headers follow the layer order"; fi
exit "$status"
