# Lists the reference points of one VM with the names hvsnap recorded for them.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = Get-HvsnapVm $in.vmId
$names = Read-HvsnapNames $vm
$list = @(Get-HvsnapReferencePoints $vm | ForEach-Object { ConvertTo-HvsnapReferencePoint $_ $names })
ConvertTo-HvsnapJson ([ordered]@{ ReferencePoints = $list; Disks = (Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm)) })
