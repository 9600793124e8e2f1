rule validate:
    """Generated vs reference showers: plots, chi2 and W1 per observable, index.html."""
    input:
        reference="results/{run}/reference.h5",
        generated="results/{run}/generated.h5",
    output:
        directory("results/{run}/validation"),
    log:
        "logs/{run}/validate.log",
    params:
        geometry=run_value("geometry"),
    threads: resource("validate", "threads")
    resources:
        mem_mb=resource("validate", "mem_mb"),
        runtime=resource("validate", "runtime"),
    shell:
        "OMP_NUM_THREADS={threads} MPLBACKEND=Agg hepgan validate --reference {input.reference:q}"
        " --generated {input.generated:q} -o {output:q} --geometry {params.geometry:q} > {log:q} 2>&1"
