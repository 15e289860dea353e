"""Writes a vocab-only GGUF: the tokenizer and chat-template metadata of a GGUF
model, no tensors. A Hugging Face model directory needs one as tokenizer.gguf
(llama.cpp's `convert_hf_to_gguf.py --vocab-only` makes the same from a
Hugging Face tokenizer).

usage: python vocab_gguf.py MODEL.gguf OUT.gguf   (needs `pip install gguf`)
"""
import sys

from gguf import GGUFReader, GGUFValueType, GGUFWriter


def main(source: str, target: str) -> None:
    reader = GGUFReader(source)
    arch = reader.fields["general.architecture"]
    writer = GGUFWriter(target, bytes(arch.parts[arch.data[0]]).decode())
    for key, field in reader.fields.items():
        if not (key.startswith("tokenizer.") or key.startswith("general.")) or key == "general.architecture":
            continue
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            sub = field.types[1]
            if sub == GGUFValueType.STRING:
                value = [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data]
            else:
                value = [field.parts[i][0].item() for i in field.data]
            writer.add_key_value(key, value, kind, sub_type=sub)
        elif kind == GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]).decode(), kind)
        else:
            writer.add_key_value(key, field.parts[field.data[0]][0].item(), kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
