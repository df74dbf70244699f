# Terraform changes for account
#   "app-b"
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

# Key "05ce26ac-4c28-3c54-9583-0bf547d84ee7" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_05ce26ac-4c28-3c54-9583-0bf547d84ee7" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "3d948294-a393-6b12-99b0-372fd371de4c" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_3d948294-a393-6b12-99b0-372fd371de4c" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7515e586-55be-3d2e-fed7-713eff7a0895" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_7515e586-55be-3d2e-fed7-713eff7a0895" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7878ec0b-4b2c-1f69-d4e6-9b96389eb877" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_7878ec0b-4b2c-1f69-d4e6-9b96389eb877" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "85ab8f79-a398-ea5e-d249-8eb9668ba8c5" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_85ab8f79-a398-ea5e-d249-8eb9668ba8c5" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "9c6ece5e-c29d-4ea6-36ee-d05f4c1dd916" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_9c6ece5e-c29d-4ea6-36ee-d05f4c1dd916" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "9fe3a520-d1dc-a2f1-1704-9a9fa817194b" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_9fe3a520-d1dc-a2f1-1704-9a9fa817194b" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "ab996fab-d9fe-21e6-6ab4-11089dc9022f" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_ab996fab-d9fe-21e6-6ab4-11089dc9022f" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b15470a9-84d4-981f-99d8-f6bddd1044a6" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b15470a9-84d4-981f-99d8-f6bddd1044a6" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "cea5adda-eedb-94b6-389f-63f6cb36fdc8" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_cea5adda-eedb-94b6-389f-63f6cb36fdc8" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "d222a22b-4a1a-8a5e-b261-44ddcf31ccd1" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_d222a22b-4a1a-8a5e-b261-44ddcf31ccd1" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "app-b/generic-hzz" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_app-b_generic-hzz_0c7aa625" {
  secret_name      = "app-b/generic-hzz"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "common/app-config" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_common_app-config_d3086615" {
  secret_name      = "common/app-config"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7bca4eda-6f14-a655-4e0c-3cdd8ae87485" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_7bca4eda-6f14-a655-4e0c-3cdd8ae87485" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "a43b245b-4e23-010d-0c2e-8a2f6203c951" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_a43b245b-4e23-010d-0c2e-8a2f6203c951" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "f784d06e-ad52-b596-9e22-2fd588238f39" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_f784d06e-ad52-b596-9e22-2fd588238f39" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "fa2b52f8-2bbe-59e5-08f6-4208d75f60d3" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_fa2b52f8-2bbe-59e5-08f6-4208d75f60d3" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "app-b/generic-shh" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_app-b_generic-shh_f2ba89c7" {
  secret_name      = "app-b/generic-shh"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "common/app-config" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_common_app-config_827182ed" {
  secret_name      = "common/app-config"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}
