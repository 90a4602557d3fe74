process VQDNA_TOKENIZE {
    tag "$meta.id"
    label 'process_medium'
    label 'process_gpu'

    conda "${moduleDir}/environment.yml"
    container "${ workflow.containerEngine == 'singularity' && !task.ext.singularity_pull_docker_container ?
        'https://depot.galaxyproject.org/singularity/vqdna:0.1.0--pyhdfd78af_0' :
        'biocontainers/vqdna:0.1.0--pyhdfd78af_0' }"

    input:
    tuple val(meta), path(fasta)
    path(model)  // weights directory, or [] for the shipped weights

    output:
    tuple val(meta), path("*.npz"), emit: tokens
    tuple val("${task.process}"), val('vqdna'), eval("vqdna --version | sed 's/vqdna //'"), topic: versions, emit: versions_vqdna

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def model_arg = model ? "--model \"${model}\"" : ''
    // nf-core's process_gpu convention: the pipeline sets ext.use_gpu where a GPU is given.
    def device_arg = task.ext.use_gpu ? '--device cuda' : ''
    """
    vqdna tokenize \\
        "${fasta}" \\
        -o "${prefix}.tokens.npz" \\
        ${model_arg} \\
        ${device_arg} \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch "${prefix}.tokens.npz"
    """
}
