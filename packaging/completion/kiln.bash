# SPDX-License-Identifier: Apache-2.0
# bash completion for kiln(1): commands, their options, and the keys of 'kiln query'.

# Complete a KEY of 'kiln query': the keys of the current instance data, from
# 'kiln query --list-keys', or the static list below when kiln has no instance data.
_kiln_query_keys() {
        local cur=$1 parent='' prefix='' keys
        shift
        if [[ $cur == *.* ]]; then
                parent=${cur%.*}
                prefix=$parent.
        fi
        keys=$(kiln "$@" query --list-keys ${parent:+"$parent"} 2>/dev/null)
        if [ -n "$keys" ]; then
                COMPREPLY=($(compgen -P "$prefix" -W "$keys" -- "${cur##*.}"))
        else
                COMPREPLY=($(compgen -W "$query_keys" -- "$cur"))
        fi
}

_kiln() {
        local cur prev words cword
        _init_completion || return

        local global_options='--root --config --debug --help'
        local commands='run status validate query clean version help'
        # The v1 keys that kiln writes to instance-data.json, with cloud-init's names, for when
        # there is no instance data to list the keys of.
        local query_keys='v1 v1.availability_zone v1.cloud_id v1.cloud_name v1.distro
                v1.distro_release v1.distro_version v1.instance_id v1.kernel_release
                v1.local_hostname v1.machine v1.platform v1.public_ssh_keys v1.region v1.variant
                ds ds.meta_data'

        case $prev in
        --root)
                _filedir -d
                return
                ;;
        --config)
                _filedir '@(yaml|yml)'
                return
                ;;
        --format)
                COMPREPLY=($(compgen -W 'json text' -- "$cur"))
                return
                ;;
        --stage)
                COMPREPLY=($(compgen -W 'local network' -- "$cur"))
                return
                ;;
        esac

        # The command is the first word that is neither an option nor an option's value.
        local root_args=() i
        for ((i = 1; i < cword - 1; i++)); do
                [[ ${words[i]} == --root ]] && root_args=(--root "${words[i + 1]}")
        done

        local command=''
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                --root | --config)
                        ((i++))
                        ;;
                -*) ;;
                *)
                        command=${words[i]}
                        break
                        ;;
                esac
        done

        local options
        case $command in
        '')
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "$global_options" -- "$cur"))
                else
                        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                fi
                return
                ;;
        run)
                options='--stage'
                ;;
        status)
                options='--long --format --wait'
                ;;
        validate)
                options='--format --system --print-schema'
                if [[ $cur != -* ]]; then
                        _filedir
                        return
                fi
                ;;
        query)
                options='--list-keys'
                if [[ $cur != -* ]]; then
                        _kiln_query_keys "$cur" "${root_args[@]}"
                        return
                fi
                ;;
        clean)
                options='--logs --seed --machine-id --ssh-host-keys --force'
                ;;
        help)
                if [[ $cur != -* ]]; then
                        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                        return
                fi
                ;;
        esac

        COMPREPLY=($(compgen -W "$options $global_options" -- "$cur"))
}

complete -F _kiln kiln
