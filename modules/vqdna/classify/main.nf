process VQDNA_CLASSIFY {
    tag "$meta.id"
    label 'process_medium'
    label 'process_gpu'

    conda "${moduleDir}/environment.yml"
    container "${ workflow.containerEngine == 'singularity' && !task.ext.singularity_pull_docker_container ?
        'https://depot.galaxyproject.org/singularity/vqdna:0.1.0--pyhdfd78af_0' :
        'biocontainers/vqdna:0.1.0--pyhdfd78af_0' }"

    input:
    tuple val(meta), path(fasta)
    path(model)      // weights directory, or [] for the shipped weights
    val(task_name)   // the task head, e.g. 'promoter' (`vqdna classify --list-tasks`)

    output:
    tuple val(meta), path("*.{tsv,bed}"), emit: predictions
    // the sidecar vqdna writes beside the predictions: version, model, task, input, columns, rows
    tuple val(meta), path("*.{tsv,bed}.json"), emit: json
    tuple val("${task.process}"), val('vqdna'), eval("vqdna --version | sed 's/vqdna //'"), topic: versions, emit: versions_vqdna

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def model_arg = model ? "--model \"${model}\"" : ''
    // nf-core's process_gpu convention: the pipeline sets ext.use_gpu where a GPU is given.
    def device_arg = task.ext.use_gpu ? '--device cuda' : ''
    // TSV (one row per sequence) unless ext.args asks for BED6+ (windows of long sequences);
    // `--format` comes last so the file's extension always says what it holds.
    def format = (args =~ /--format(?:=|\s+)['"]?bed\b/) ? 'bed' : 'tsv'
    """
    vqdna classify \\
        --task ${task_name} \\
        "${fasta}" \\
        -o "${prefix}.${format}" \\
        ${model_arg} \\
        ${device_arg} \\
        --threads ${task.cpus} \\
        ${args} \\
        --format ${format}
    """

    stub:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def format = (args =~ /--format(?:=|\s+)['"]?bed\b/) ? 'bed' : 'tsv'
    """
    touch "${prefix}.${format}"
    touch "${prefix}.${format}.json"
    """
}
