process VQDNA_EMBED {
    tag "$meta.id"
    label 'process_medium'
    label 'process_gpu'

    conda "${moduleDir}/environment.yml"

    input:
    tuple val(meta), path(fasta)
    path(model)  // weights directory, or [] for the shipped weights

    output:
    tuple val(meta), path("*.npz"), emit: embeddings
    tuple val("${task.process}"), val('vqdna'), eval("vqdna --version | sed 's/vqdna //'"), topic: versions, emit: versions_vqdna

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def model_arg = model ? "--model ${model}" : ''
    """
    vqdna embed \\
        ${fasta} \\
        -o ${prefix}.embeddings.npz \\
        ${model_arg} \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch ${prefix}.embeddings.npz
    """
}
