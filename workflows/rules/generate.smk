rule generate:
    """Showers (MeV) from the trained model, incident energies cycled from the reference file."""
    input:
        model="results/{run}/model.pt",
        reference="results/{run}/reference.h5",
    output:
        "results/{run}/generated.h5",
    log:
        "logs/{run}/generate.log",
    params:
        n=run_value("n_generate"),
        seed=run_value("seed"),
    threads: resource("generate", "threads")
    resources:
        mem_mb=resource("generate", "mem_mb"),
        runtime=resource("generate", "runtime"),
        gpu=resource("generate", "gpu"),
    shell:
        "OMP_NUM_THREADS={threads} hepgan generate --n {params.n} -o {output:q} --checkpoint {input.model:q}"
        " --seed {params.seed} --energies-from {input.reference:q} --no-progress > {log:q} 2>&1"
