# An Amazon Machine Image of Debian 12 with kiln in place of cloud-init.
#
#   dpkg-buildpackage -b -us -uc           # in the source tree, with debian -> packaging/debian
#   packer init packaging/packer
#   packer build -var kiln_deb=../kiln_0.1.0_amd64.deb packaging/packer
#
# Packer starts a builder instance from Debian's official AMI, replaces cloud-init with kiln,
# runs `kiln clean` so that the captured image boots as a new instance, and registers the AMI.

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "kiln_deb" {
  type        = string
  description = "Path of the kiln .deb built by dpkg-buildpackage."
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "debian" {
  region        = var.region
  instance_type = var.instance_type
  ami_name      = "debian-12-kiln-${local.timestamp}"
  ssh_username  = "admin"

  # Debian's official images are published by the account 136693071363.
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  # IMDSv2 only, so the image is built the way kiln reads the metadata service.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"
}

build {
  sources = ["source.amazon-ebs.debian"]

  provisioner "file" {
    source      = var.kiln_deb
    destination = "/tmp/kiln.deb"
  }

  provisioner "file" {
    source      = "${path.root}/kiln.d/50-image.yaml"
    destination = "/tmp/50-image.yaml"
  }

  # cloud-init and kiln must not both configure the instance, so cloud-init is removed. The
  # default user of Debian's image, admin, stays and gets the instance's SSH keys from kiln.
  # NOTE: kiln has no growpart module, so the root file system keeps the size of the image's
  # volume; give the image the volume size its instances need.
  provisioner "shell" {
    inline = [
      "set -eux",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/kiln.deb",
      "sudo install -D -m 0644 /tmp/50-image.yaml /etc/kiln/kiln.d/50-image.yaml",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get purge -y cloud-init",
      "sudo rm -rf /var/lib/cloud /tmp/kiln.deb /tmp/50-image.yaml",
    ]
  }

  # The last step before capture: remove the builder instance's state, logs, seed, machine ID and
  # SSH host keys, so that every instance of the image is a first boot with its own identity.
  provisioner "shell" {
    inline = [
      "sudo kiln clean --logs --seed --machine-id --ssh-host-keys",
    ]
  }
}
