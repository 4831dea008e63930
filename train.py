"""Entry point: `python train.py model=t5_small freeze=encoder` (see conf/train.yaml)."""

from seq2seq_bench.train import main

if __name__ == "__main__":
    main()
