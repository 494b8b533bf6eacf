#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# User data marked "## template: jinja", rendered with the instance data of a NoCloud seed before
# it is decoded. The cases cover variables from v1 and ds.meta_data, including the underscore
# alias of a key that holds '-', then if and for blocks and filters. An undefined variable renders
# as cloud-init renders it, with a warning. A construct kiln does not support is an error, and
# nothing from that template is applied.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# jinja_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT with a NoCloud seed whose meta-data has
# a hostname and keys holding '-' and '.', and whose user data is stdin; then `kiln run` on it.
jinja_run() {
        local dir
        ROOT=$(new_root)
        dir=$ROOT/var/lib/kiln/seed/nocloud
        mkdir -p "$dir"
        printf 'instance-id: %s\nlocal-hostname: web-1\nsome-key: from-meta\nrack.name: r42\nroles:\n  - db\n  - cache\n' \
                "$1" > "$dir/meta-data"
        cat > "$dir/user-data"
        run_kiln "$ROOT"
}

case_begin "variables from v1 and ds.meta_data"
jinja_run iid-jinja-vars <<'EOF'
## template: jinja
#cloud-config
write_files:
- path: /run/j
  content: '{{ v1.local_hostname }} {{ ds.meta_data.some_key }} {{ ds.meta_data["some-key"] }} {{ ds.meta_data.rack_name }}'
- path: /run/j-ids
  content: "{{ v1.instance_id }} {{ v1['instance-id'] }} {{ instance_id }} {{ v1.cloud_name }}\n"
EOF
check_run_result 0 done 0
check_file "the variables are rendered" "$ROOT/run/j" 'web-1 from-meta from-meta r42'
check_file "v1 keys, their dashed spelling and the top-level copy" "$ROOT/run/j-ids" \
        'iid-jinja-vars iid-jinja-vars iid-jinja-vars nocloud\n'
check_eq "no warnings" "" "$(diagnostics warnings)"

case_begin "if, for and filters"
jinja_run iid-jinja-blocks <<'EOF'
## template: jinja
#cloud-config
write_files:
{% for role in ds.meta_data.roles %}
- path: /run/j-{{ role }}
  content: "{{ role | upper }} {{ loop.index }}/{{ loop.length }} on {{ v1.local_hostname | replace('-', '_') }}\n"
{% endfor %}
{% if v1.cloud_name == 'nocloud' and v1.region is none %}
- path: /run/j-nocloud
  content: "{{ ds.meta_data.roles | join(',') }} {{ v1.nope | default('fallback') }}\n"
{% else %}
- path: /run/j-other
  content: other
{% endif %}
{# a comment #}
EOF
check_run_result 0 done 0
check_file "the first loop item" "$ROOT/run/j-db" 'DB 1/2 on web_1\n'
check_file "the second loop item" "$ROOT/run/j-cache" 'CACHE 2/2 on web_1\n'
check_file "the if branch" "$ROOT/run/j-nocloud" 'db,cache fallback\n'
check_absent "not the else branch" "$ROOT/run/j-other"
check_eq "no warnings" "" "$(diagnostics warnings)"

case_begin "a script template"
jinja_run iid-jinja-script <<'EOF'
## template: jinja
#!/bin/sh
echo '{{ v1.local_hostname }} {{ ds.meta_data.some_key }}' > /run/j-script
EOF
check_run_result 0 done 0
check_file "the rendered script ran" "$ROOT/run/j-script" 'web-1 from-meta\n'

case_begin "an undefined variable"
jinja_run iid-jinja-undefined <<'EOF'
## template: jinja
#cloud-config
write_files:
- path: /run/j-undefined
  content: '{{ v1.nope }}'
EOF
check_run_result 0 degraded 2
check_file "rendered as cloud-init renders it" "$ROOT/run/j-undefined" 'CI_MISSING_JINJA_VAR/nope'
check_contains "the warning names the variable" "$(diagnostics warnings)" "'v1.nope' is undefined"
check_contains "the warning gives the line" "$(diagnostics warnings)" "line 5"

case_begin "an unsupported construct"
jinja_run iid-jinja-set <<'EOF'
## template: jinja
#cloud-config
{% set name = 'x' %}
write_files:
- path: /run/j-set
  content: '{{ name }}'
runcmd:
- touch /run/j-set-cmd
EOF
check_run_result 1 error 1
check_absent "no file is written" "$ROOT/run/j-set"
check_absent "no command runs" "$ROOT/run/j-set-cmd"
check_contains "the error names the construct" "$(diagnostics errors)" "'{% set %}' is not supported"
check_contains "the error gives the line" "$(diagnostics errors)" "line 3"

case_begin "a syntax error"
jinja_run iid-jinja-syntax <<'EOF'
## template: jinja
#cloud-config
runcmd:
{% if v1.local_hostname == 'web-1' %}
- touch /run/j-syntax
EOF
check_run_result 1 error 1
check_absent "nothing runs" "$ROOT/run/j-syntax"
check_contains "the error names the missing tag" "$(diagnostics errors)" "Missing '{% endif %}'"
