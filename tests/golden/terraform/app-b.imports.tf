# Terraform >= 1.5 import blocks for account "app-b": only for keys and secrets
# not managed by Terraform yet (docs/terraform.md).  Import ids: the KeyId of
# a key, the name of a secret (alicloud provider docs).

import {
  to = alicloud_kms_key.key_cn-hangzhou_05ce26ac-4c28-3c54-9583-0bf547d84ee7
  id = "05ce26ac-4c28-3c54-9583-0bf547d84ee7"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_3d948294-a393-6b12-99b0-372fd371de4c
  id = "3d948294-a393-6b12-99b0-372fd371de4c"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_7515e586-55be-3d2e-fed7-713eff7a0895
  id = "7515e586-55be-3d2e-fed7-713eff7a0895"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_7878ec0b-4b2c-1f69-d4e6-9b96389eb877
  id = "7878ec0b-4b2c-1f69-d4e6-9b96389eb877"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_85ab8f79-a398-ea5e-d249-8eb9668ba8c5
  id = "85ab8f79-a398-ea5e-d249-8eb9668ba8c5"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_9c6ece5e-c29d-4ea6-36ee-d05f4c1dd916
  id = "9c6ece5e-c29d-4ea6-36ee-d05f4c1dd916"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_9fe3a520-d1dc-a2f1-1704-9a9fa817194b
  id = "9fe3a520-d1dc-a2f1-1704-9a9fa817194b"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_ab996fab-d9fe-21e6-6ab4-11089dc9022f
  id = "ab996fab-d9fe-21e6-6ab4-11089dc9022f"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_b15470a9-84d4-981f-99d8-f6bddd1044a6
  id = "b15470a9-84d4-981f-99d8-f6bddd1044a6"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_cea5adda-eedb-94b6-389f-63f6cb36fdc8
  id = "cea5adda-eedb-94b6-389f-63f6cb36fdc8"
}

import {
  to = alicloud_kms_key.key_cn-hangzhou_d222a22b-4a1a-8a5e-b261-44ddcf31ccd1
  id = "d222a22b-4a1a-8a5e-b261-44ddcf31ccd1"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_app-b_generic-hzz_0c7aa625
  id = "app-b/generic-hzz"
}

import {
  to = alicloud_kms_secret.secret_cn-hangzhou_common_app-config_d3086615
  id = "common/app-config"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_7bca4eda-6f14-a655-4e0c-3cdd8ae87485
  id = "7bca4eda-6f14-a655-4e0c-3cdd8ae87485"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_a43b245b-4e23-010d-0c2e-8a2f6203c951
  id = "a43b245b-4e23-010d-0c2e-8a2f6203c951"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_f784d06e-ad52-b596-9e22-2fd588238f39
  id = "f784d06e-ad52-b596-9e22-2fd588238f39"
}

import {
  to = alicloud_kms_key.key_cn-shanghai_fa2b52f8-2bbe-59e5-08f6-4208d75f60d3
  id = "fa2b52f8-2bbe-59e5-08f6-4208d75f60d3"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_app-b_generic-shh_f2ba89c7
  id = "app-b/generic-shh"
}

import {
  to = alicloud_kms_secret.secret_cn-shanghai_common_app-config_827182ed
  id = "common/app-config"
}
