rule train:
    """Train on the run's reference showers; the run folder goes to results/<run>/train/ and its
    final checkpoint (named by the run folder's run.json) is copied to model.pt."""
    input:
        reference="results/{run}/reference.h5",
    output:
        model="results/{run}/model.pt",
        runs=directory("results/{run}/train"),
    log:
        "logs/{run}/train.log",
    params:
        config=run_value("config"),
        sets=set_args,
        seed=run_value("seed"),
        no_validate=lambda wildcards: "" if RUNS[wildcards.run]["holdout_validation"] else "--no-validate",
    threads: resource("train", "threads")
    resources:
        mem_mb=resource("train", "mem_mb"),
        runtime=resource("train", "runtime"),
        gpu=resource("train", "gpu"),  # the slurm executor plugin asks for this many GPUs
    shell:
        "OMP_NUM_THREADS={threads} hepgan train {params.config:q} {params.sets}"
        " --set data.path={input.reference:q} --set training.runs_dir={output.runs:q}"
        " --set training.threads={threads} --set seed={params.seed}"
        " {params.no_validate} --no-progress > {log:q} 2>&1"
        " && cp \"$(hepgan info --field final_checkpoint {output.runs:q})\" {output.model:q}"
