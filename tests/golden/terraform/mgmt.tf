# Terraform changes for account
#   "mgmt"
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

# Key "10851a59-9470-3082-75c0-aca0a2ba495d" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_10851a59-9470-3082-75c0-aca0a2ba495d" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "14b5e4c2-20a8-3578-0b48-9f9fd2e4b67a" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_14b5e4c2-20a8-3578-0b48-9f9fd2e4b67a" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "196e3f8d-2155-8822-00a4-bca07ed1049f" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_196e3f8d-2155-8822-00a4-bca07ed1049f" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1b73afb9-8efe-0368-5693-f889dc3f53da" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_1b73afb9-8efe-0368-5693-f889dc3f53da" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1bb92894-bc7b-0df2-ebc1-b0658da52c4a" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_1bb92894-bc7b-0df2-ebc1-b0658da52c4a" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1d760a7e-b334-9cd0-e32e-9e4abe0cd67d" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_1d760a7e-b334-9cd0-e32e-9e4abe0cd67d" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1e9858b4-3b02-e3b4-7516-afbee4ae35f6" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_1e9858b4-3b02-e3b4-7516-afbee4ae35f6" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1ebf0120-24d0-ad52-e45a-2d45fbd62bd5" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_1ebf0120-24d0-ad52-e45a-2d45fbd62bd5" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "259844bd-1354-33a8-a18a-fd5fbda8689f" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_259844bd-1354-33a8-a18a-fd5fbda8689f" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "2d102123-bd37-64e0-b0f9-8f40f3ddea13" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_2d102123-bd37-64e0-b0f9-8f40f3ddea13" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "331c3932-090c-9036-57f5-41691485f2fd" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_331c3932-090c-9036-57f5-41691485f2fd" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "3536feed-2eca-531c-c3eb-7191b03aa002" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_3536feed-2eca-531c-c3eb-7191b03aa002" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "3df6fe95-4d4b-60a6-8114-9b3e77d4baed" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_3df6fe95-4d4b-60a6-8114-9b3e77d4baed" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "3f62ab89-170f-c414-55fa-9c4fd8e9ee0c" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_3f62ab89-170f-c414-55fa-9c4fd8e9ee0c" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "418c14c7-91a3-be80-5e42-eae1b2a1af64" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_418c14c7-91a3-be80-5e42-eae1b2a1af64" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "46d574ab-b4b2-f03b-6cf3-57800f38bda6" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_46d574ab-b4b2-f03b-6cf3-57800f38bda6" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "48b259a5-20a2-8c68-b7fa-929eaeffb38c" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_48b259a5-20a2-8c68-b7fa-929eaeffb38c" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "491b0370-b97b-34b9-10e3-c12154a6e450" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_491b0370-b97b-34b9-10e3-c12154a6e450" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "4d421f3c-f65c-dcd9-1044-063226383e18" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_4d421f3c-f65c-dcd9-1044-063226383e18" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "57655ad4-d569-d22e-af6f-558a47d11feb" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_57655ad4-d569-d22e-af6f-558a47d11feb" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "5928fb7a-5471-6e5e-5c16-a35b38fa3959" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_5928fb7a-5471-6e5e-5c16-a35b38fa3959" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "5c5d907e-2dc7-2db3-7990-0c15a8cc6b08" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_5c5d907e-2dc7-2db3-7990-0c15a8cc6b08" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "5c98bf25-f1e7-636e-d75e-274b37a1e768" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_5c98bf25-f1e7-636e-d75e-274b37a1e768" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "698bbcc6-a2a6-6dfa-210c-ae706ac43b63" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_698bbcc6-a2a6-6dfa-210c-ae706ac43b63" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7012cbd8-4b84-960b-2776-a264027adcff" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_7012cbd8-4b84-960b-2776-a264027adcff" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "709af339-b92e-2edc-096a-d5fead7c2b8d" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_709af339-b92e-2edc-096a-d5fead7c2b8d" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "7dcab993-86f1-e111-b535-9e5f44c8a249" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_7dcab993-86f1-e111-b535-9e5f44c8a249" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "84c5be05-0f90-f6da-0065-36b08fe03877" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_84c5be05-0f90-f6da-0065-36b08fe03877" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "857dcfe1-085f-2a00-222d-a32b3f3c4344" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_857dcfe1-085f-2a00-222d-a32b3f3c4344" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "8a1e0fd6-a40e-217a-d6df-2d9744fefb93" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_8a1e0fd6-a40e-217a-d6df-2d9744fefb93" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "8e9f77df-3e4d-4549-5e4a-903a6d3b50b2" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_8e9f77df-3e4d-4549-5e4a-903a6d3b50b2" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "8f6b9874-abec-53f2-147a-ad4ef36814b1" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_8f6b9874-abec-53f2-147a-ad4ef36814b1" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "9123e43b-b2bd-bac2-74a1-f2d2b9fecca4" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_9123e43b-b2bd-bac2-74a1-f2d2b9fecca4" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "9c191607-21fb-7dda-cb74-61ee3dcc3b68" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_9c191607-21fb-7dda-cb74-61ee3dcc3b68" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "9dfbe7a7-c551-eb2d-30ad-b11cdde22ab0" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_9dfbe7a7-c551-eb2d-30ad-b11cdde22ab0" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a0248618-f036-9cc7-3703-846fa6ee12cc" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a0248618-f036-9cc7-3703-846fa6ee12cc" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a137afe4-c945-4729-f620-3e180c1985a0" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a137afe4-c945-4729-f620-3e180c1985a0" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a1df785e-660a-281a-0d55-fbbcdc05ac66" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a1df785e-660a-281a-0d55-fbbcdc05ac66" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a65819e8-3dff-29b8-89aa-e84c5aae5c3b" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a65819e8-3dff-29b8-89aa-e84c5aae5c3b" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "a9236d88-ee5f-7941-9b9e-c1e4945eab2e" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_a9236d88-ee5f-7941-9b9e-c1e4945eab2e" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "aad29641-3004-3ed0-ac10-923d7001388a" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_aad29641-3004-3ed0-ac10-923d7001388a" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "ac9a7d46-cb55-a6e8-053c-f185cab49efc" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_ac9a7d46-cb55-a6e8-053c-f185cab49efc" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b00bdcdf-f43c-77d6-9882-f65fab0f3767" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b00bdcdf-f43c-77d6-9882-f65fab0f3767" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b032138e-a91f-c1c7-a8e4-b1a15988d217" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b032138e-a91f-c1c7-a8e4-b1a15988d217" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b0a904d0-3158-3554-45e1-eaddf9a9afe4" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b0a904d0-3158-3554-45e1-eaddf9a9afe4" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b139ac58-b313-ee5e-afcc-c0b3a69a7b29" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b139ac58-b313-ee5e-afcc-c0b3a69a7b29" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b161476e-e23b-21d7-bd08-f922f4831d44" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b161476e-e23b-21d7-bd08-f922f4831d44" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "b710e5b5-b752-f9f3-b3db-db645c8bf992" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_b710e5b5-b752-f9f3-b3db-db645c8bf992" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "d0e10b19-c31d-5f7e-ab77-7f4b848b0d2d" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_d0e10b19-c31d-5f7e-ab77-7f4b848b0d2d" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "d8f59304-71d6-5358-b963-61c95670f0c7" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_d8f59304-71d6-5358-b963-61c95670f0c7" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "e0d59b2a-c97a-5929-5a47-fedaffa1320e" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_e0d59b2a-c97a-5929-5a47-fedaffa1320e" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "e4e1eae1-119e-866c-daa0-f74563bd90dd" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_e4e1eae1-119e-866c-daa0-f74563bd90dd" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "e82f4ef8-e1f5-583f-b68a-ec6a81389802" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_e82f4ef8-e1f5-583f-b68a-ec6a81389802" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "ef2cd4b7-b6db-5bd9-add7-08e4f1632c3f" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_ef2cd4b7-b6db-5bd9-add7-08e4f1632c3f" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "ef827c6a-f62c-c913-3b14-dbf18e705b77" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_ef827c6a-f62c-c913-3b14-dbf18e705b77" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "f14a62e2-ad21-139e-4782-d466b6e2366a" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_f14a62e2-ad21-139e-4782-d466b6e2366a" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "f669ccf7-ecc7-b7a9-482c-941491e14665" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_f669ccf7-ecc7-b7a9-482c-941491e14665" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "f73242fd-3226-6153-45cf-2b02d4df7e99" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_f73242fd-3226-6153-45cf-2b02d4df7e99" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "fe9856ab-157b-daa2-c1ca-81d69276da58" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_key" "key_cn-hangzhou_fe9856ab-157b-daa2-c1ca-81d69276da58" {
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/ecs-07" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_ecs-07_e4f5baae" {
  secret_name      = "demo/ecs-07"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/ecs-11" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_ecs-11_7bdc1d46" {
  secret_name      = "demo/ecs-11"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/generic-00" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_generic-00_138b4d77" {
  secret_name      = "demo/generic-00"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/generic-04" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_generic-04_0ec013c6" {
  secret_name      = "demo/generic-04"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/generic-08" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_generic-08_d48392cb" {
  secret_name      = "demo/generic-08"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/ramcredentials-02" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_ramcredentials-02_d9f47bea" {
  secret_name      = "demo/ramcredentials-02"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/ramcredentials-06" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_ramcredentials-06_9ee1fda8" {
  secret_name      = "demo/ramcredentials-06"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/ramcredentials-10" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_ramcredentials-10_23dec391" {
  secret_name      = "demo/ramcredentials-10"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/rds-01" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_rds-01_cfc48179" {
  secret_name      = "demo/rds-01"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/rds-05" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_rds-05_ae7ff833" {
  secret_name      = "demo/rds-05"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Secret "demo/rds-09" in "cn-hangzhou",
# moved by this run into KMS instance "kst-hzz6500a1b2c3d4e5f6".
resource "alicloud_kms_secret" "secret_cn-hangzhou_demo_rds-09_ade0941c" {
  secret_name      = "demo/rds-09"
  dkms_instance_id = "kst-hzz6500a1b2c3d4e5f6"
}

# Key "1248072f-057f-49b7-4fe4-1427cbe1318a" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_1248072f-057f-49b7-4fe4-1427cbe1318a" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "518f3e74-7089-97dd-ebb5-2158b2d9c447" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_518f3e74-7089-97dd-ebb5-2158b2d9c447" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "6af1062a-a01b-4612-ca53-ae590f8f0448" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_6af1062a-a01b-4612-ca53-ae590f8f0448" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "90f9fcfd-0f60-7915-abc0-3a1a7a690436" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_90f9fcfd-0f60-7915-abc0-3a1a7a690436" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "d3b67aac-c8ce-b183-d942-7f9cf578ad5b" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_d3b67aac-c8ce-b183-d942-7f9cf578ad5b" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "e4164864-8a24-24ed-b2d8-d3572448d2ef" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_e4164864-8a24-24ed-b2d8-d3572448d2ef" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Key "ed1d045c-e168-21cf-fe09-8699b29d7df5" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_key" "key_cn-shanghai_ed1d045c-e168-21cf-fe09-8699b29d7df5" {
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "sh/ecs-01" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_sh_ecs-01_7eba75d8" {
  secret_name      = "sh/ecs-01"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "sh/generic-01" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_sh_generic-01_e1fdb2dc" {
  secret_name      = "sh/generic-01"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}

# Secret "sh/ram-01" in "cn-shanghai",
# moved by this run into KMS instance "kst-shh6500f6e5d4c3b2a1".
resource "alicloud_kms_secret" "secret_cn-shanghai_sh_ram-01_84abdc31" {
  secret_name      = "sh/ram-01"
  dkms_instance_id = "kst-shh6500f6e5d4c3b2a1"
}
