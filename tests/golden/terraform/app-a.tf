# Terraform changes for account
#   "app-a"
# written by kmsmig after its KMS 1.0 keys and secrets moved into
# KMS 3.0 instances (docs/terraform.md).
#
# The cloud now reports an instance id for each of them, and the
# alicloud provider reads it into dkms_instance_id, which forces a
# replacement: without this change `terraform apply` would destroy
# and re-create the key or secret.  Review before use:
# - Find YOUR block for each key id / secret name below (`terraform
#   state list`, `terraform state show ADDRESS`); the addresses here
#   are derived from ids and will differ from yours.  Copy the change
#   into your block and keep every other argument as it is.
# - The change adds dkms_instance_id (an argument of both resources
#   since alicloud provider v1.183.0).  To keep your configuration
#   unchanged instead, on provider <= 1.235.0, add
#   `lifecycle { ignore_changes = [dkms_instance_id] }`:
#   `kmsmig terraform RUN_DIR --style ignore` writes that form.
# - Then `terraform plan` must show no "must be replaced" for any
#   alicloud_kms_key or alicloud_kms_secret.
# - A secret's secret_data and version_id are required by the provider
#   and stay as in your configuration: kmsmig never writes a secret
#   value.  Not in Terraform yet?  The .imports.tf (Terraform >= 1.5)
#   and .imports.txt files next to this one import these addresses.

# Key "0c72fdd7-511d-0cf5-fa00-f08636739f89" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_0c72fdd7-511d-0cf5-fa00-f08636739f89" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "2ea0bb22-9fe7-a744-3897-85a3491be192" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_2ea0bb22-9fe7-a744-3897-85a3491be192" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "431fd8c7-5606-8f6b-1f3b-c02685f099ac" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_431fd8c7-5606-8f6b-1f3b-c02685f099ac" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_4e4fdcc7-09f5-1696-0aa7-6d0ba45f5e9d" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "5050cf8e-0bec-ae0b-d584-5fdebd5ca5d8" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_5050cf8e-0bec-ae0b-d584-5fdebd5ca5d8" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a0bbf9b7-ec21-0f4a-9715-c6d6672c060f" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a0bbf9b7-ec21-0f4a-9715-c6d6672c060f" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "af7d4d2f-d973-091a-c4eb-2420ca16bda7" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_af7d4d2f-d973-091a-c4eb-2420ca16bda7" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b48a26ea-0e03-0e77-aa1c-bf1f6c46a727" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b48a26ea-0e03-0e77-aa1c-bf1f6c46a727" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "c915252e-a221-6b2b-fe6a-128fdb095663" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_c915252e-a221-6b2b-fe6a-128fdb095663" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "de2c0a49-7e2a-eb43-9a74-078c31de68db" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_de2c0a49-7e2a-eb43-9a74-078c31de68db" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "f89bc435-244e-5d22-6474-fde83d87a6f4" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_f89bc435-244e-5d22-6474-fde83d87a6f4" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "app-a/generic-hzz" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_app-a_generic-hzz_af683c5f" {
  secret_name      = "app-a/generic-hzz"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "common/app-config" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_common_app-config_d3086615" {
  secret_name      = "common/app-config"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7977c34b-27c7-cef3-7955-12a7c8de1900" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_7977c34b-27c7-cef3-7955-12a7c8de1900" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "87f0a7ec-01fe-6872-525c-c1efd8fceac3" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_87f0a7ec-01fe-6872-525c-c1efd8fceac3" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "b426d560-a1f8-7d8f-5bf6-78c607c408fd" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_b426d560-a1f8-7d8f-5bf6-78c607c408fd" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "bb3c3730-6a3d-2cc2-13ca-389015bf6d71" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_bb3c3730-6a3d-2cc2-13ca-389015bf6d71" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "app-a/generic-shh" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_app-a_generic-shh_9efd048b" {
  secret_name      = "app-a/generic-shh"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "common/app-config" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_common_app-config_827182ed" {
  secret_name      = "common/app-config"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}
